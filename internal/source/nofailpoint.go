//go:build !failpoint

package source

import "context"

// failpointDir is empty without the failpoint tag.
const failpointDir = ""

// hold is the end-to-end tests' failpoint (see failpoint.go); it does
// nothing in a build without the failpoint tag.
func hold(context.Context, string) {}
