//go:build !failpoint

package pgwrite

// pause is the fault tests' failpoint (see failpoint.go); it does nothing
// in a build without the failpoint tag.
func pause(string) {}

// failpoints is whether this build has them.
const failpoints = false
