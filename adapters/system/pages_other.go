//go:build !linux

package system

import "errors"

// ReleaseStartPages gives back the executable's start-up pages on Linux only; elsewhere it does
// nothing and says so.
func ReleaseStartPages() (StartPages, error) {
	return StartPages{}, errors.ErrUnsupported
}
