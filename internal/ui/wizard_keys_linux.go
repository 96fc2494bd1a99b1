package ui

import (
	"os"

	"golang.org/x/sys/unix"
)

// holdKeys keeps the terminal from reading lines between two steps' forms: each form is a
// program that puts the terminal in raw mode and gives it back when it ends, and keys typed in
// between were line-edited by the terminal (Ctrl-U erasing what came before) or lost. Line
// editing and echo stay off for the whole wizard; signals and output processing stay on.
func holdKeys(in any) (restore func()) {
	f, ok := in.(*os.File)
	if !ok {
		return func() {}
	}
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}
	}
	cbreak := *old
	cbreak.Lflag &^= unix.ICANON | unix.ECHO
	cbreak.Cc[unix.VMIN], cbreak.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &cbreak); err != nil {
		return func() {}
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }
}
