package testserver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// The local account vsftpd authenticates through PAM. The password is fixed
// so that a user left behind by an earlier run keeps working; the account
// is only reachable through 127.0.0.1 test servers.
const (
	TestUser     = "ftpsfstest"
	TestPassword = "Kq7-vR2m-ftpsfs-9xLw"
)

var (
	userOnce sync.Once
	userUID  int
	userGID  int
	userErr  error
)

// ensureTestUser creates TestUser (once per process, idempotently) with a
// login shell listed in /etc/shells, because Debian's /etc/pam.d/vsftpd runs
// pam_shells, and sets its password.
func ensureTestUser() (uid, gid int, err error) {
	userOnce.Do(func() { userUID, userGID, userErr = createTestUser() })
	return userUID, userGID, userErr
}

func createTestUser() (int, int, error) {
	// e2e and this package may run at once: useradd and chpasswd must not race.
	unlock, err := lockFile(filepath.Join(os.TempDir(), "ftpsfs-testuser.lock"))
	if err != nil {
		return 0, 0, err
	}
	defer unlock()

	u, err := user.Lookup(TestUser)
	if errors.As(err, new(user.UnknownUserError)) {
		out, uerr := exec.Command("useradd", "--create-home", "--home-dir", "/home/"+TestUser,
			"--shell", "/bin/bash", "--comment", "ftpsfs test user", TestUser).CombinedOutput()
		if uerr != nil {
			return 0, 0, fmt.Errorf("useradd %s: %v: %s", TestUser, uerr, out)
		}
		u, err = user.Lookup(TestUser)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("look up %s: %w", TestUser, err)
	}
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(TestUser + ":" + TestPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("chpasswd %s: %v: %s", TestUser, err, out)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return 0, 0, err
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return 0, 0, err
	}
	return uid, gid, nil
}

// pamService returns a PAM service that authenticates local users: Debian's
// own vsftpd service when present, otherwise one written for the tests.
func pamService() (string, error) {
	if _, err := os.Stat("/etc/pam.d/vsftpd"); err == nil {
		return "vsftpd", nil
	}
	const name = "ftpsfs-test"
	conf := "# written by ftpsfs e2e/testserver for its vsftpd test servers\n" +
		"@include common-auth\n@include common-account\n@include common-session\n"
	if err := os.WriteFile("/etc/pam.d/"+name, []byte(conf), 0o644); err != nil {
		return "", fmt.Errorf("write PAM service: %w", err)
	}
	return name, nil
}

// prepareRoot creates root, hands it and everything in it to the test user,
// and makes its ancestors searchable: vsftpd changes into local_root with
// the user's identity, and t.TempDir() parents are mode 0700.
func prepareRoot(root string, uid, gid int) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("chown %s: %w", root, err)
	}
	for dir := filepath.Dir(root); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(dir, st.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("make %s searchable for %s: %w", dir, TestUser, err)
			}
		}
		if dir == "/" || dir == "." {
			return nil
		}
	}
}

// lockFile takes an exclusive flock, shared with other processes.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
