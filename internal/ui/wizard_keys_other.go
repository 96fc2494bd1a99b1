//go:build !linux

package ui

// holdKeys is Linux's fix for keys typed between two steps' forms (wizard_keys_linux.go);
// elsewhere the terminal is left as each form leaves it.
func holdKeys(any) (restore func()) { return func() {} }
