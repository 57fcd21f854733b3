package containers

import (
	"errors"
	"io/fs"
)

// ErrClosed is returned (wrapped in an *fs.PathError) by every mutating
// operation of a System after Close, except Exit and CSS.Put, which still
// keep the books (and release nothing).
var ErrClosed = errors.New("containers: system is closed")

// SubsystemError is the error of an operation that a subsystem refused or
// failed: a Create during Mkdir or Clone, or a CanAttach during Attach. It
// names the subsystem and wraps the error the subsystem returned, normally a
// unix.Errno, so errors.Is(err, unix.ENOSPC) sees through it.
type SubsystemError struct {
	Subsystem string // the subsystem's Name
	Op        string // the callback: "create", "can_attach", ...
	Err       error  // what the subsystem returned
}

func (e *SubsystemError) Error() string {
	return e.Subsystem + " " + e.Op + ": " + e.Err.Error()
}

func (e *SubsystemError) Unwrap() error { return e.Err }

// pathError returns the *fs.PathError that every failing operation of the
// library returns: Op names the operation, Path the container or file (in
// its hierarchy, beginning with "/"), Err the errno (or a wrapped one).
func pathError(op, path string, err error) error {
	return &fs.PathError{Op: op, Path: path, Err: err}
}
