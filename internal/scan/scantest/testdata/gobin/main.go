// Command gobin is a fixture: a Go binary whose build information lists
// github.com/Masterminds/semver/v3 at the version in berth's go.mod.
package main

import (
	"fmt"

	"github.com/Masterminds/semver/v3"
)

func main() { fmt.Println(semver.MustParse("1.2.3")) }
