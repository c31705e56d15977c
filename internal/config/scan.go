package config

import (
	"flag"
	"fmt"
	"strings"
)

// Scan configures the built-in vulnerability scanner.
type Scan struct {
	// VulnDBRef is REPO:TAG of the Trivy DB v2 artifact berth uses.
	VulnDBRef string
	// BlockUnscanned: prevent_vul also refuses artifacts never scanned.
	BlockUnscanned bool
}

// DefaultScan is the scanner's default configuration.
func DefaultScan() Scan { return Scan{VulnDBRef: "berth-system/trivy-db:2"} }

func (s *Scan) flags(fs *flag.FlagSet) {
	fs.StringVar(&s.VulnDBRef, "vulndb-ref", s.VulnDBRef,
		"REPO:TAG in berth of the Trivy DB v2 artifact the scanner uses (copy mirror.gcr.io/aquasec/trivy-db:2 there; a new digest is picked up within seconds)")
	fs.BoolVar(&s.BlockUnscanned, "scan-block-unscanned", s.BlockUnscanned,
		"with a project's prevent_vul, also refuse pulls of artifacts never scanned successfully (default: allowed, as Harbor allows unscannable ones)")
}

// VulnDBRepoTag splits VulnDBRef.
func (s *Scan) VulnDBRepoTag() (repo, tag string) {
	i := strings.LastIndexByte(s.VulnDBRef, ':')
	if i < 0 {
		return s.VulnDBRef, ""
	}
	return s.VulnDBRef[:i], s.VulnDBRef[i+1:]
}

func (s *Scan) validate() error {
	repo, tag := s.VulnDBRepoTag()
	if repo == "" || tag == "" || strings.Contains(tag, "/") || !strings.Contains(repo, "/") {
		return fmt.Errorf("vulndb-ref %q: want PROJECT/REPOSITORY:TAG", s.VulnDBRef)
	}
	return nil
}
