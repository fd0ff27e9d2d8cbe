package main

import "os/exec"

func runFusermount(args ...string) error {
	return exec.Command("fusermount3", args...).Run()
}
