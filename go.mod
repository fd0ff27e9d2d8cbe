module github.com/ftpsfs/ftpsfs

go 1.26.8

require (
	github.com/fclairamb/ftpserverlib v0.32.3
	github.com/hanwen/go-fuse/v2 v2.12.1
	github.com/hashicorp/golang-lru/v2 v2.0.7
	github.com/jlaffaye/ftp v0.2.4
	github.com/spf13/afero v1.15.0
)

require (
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.28.0 // indirect
)
