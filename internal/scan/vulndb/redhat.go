package vulndb

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Red Hat's advisories are laid out apart from the other platforms'
// (trivy-db pkg/vulnsrc/redhat-oval, pkg/db/redhat_cpe.go): one root
// bucket "Red Hat" for every RHEL version, whose advisories hold entries
// that each apply to a set of CPEs (by index), and a "Red Hat CPE"
// bucket that maps the content sets (repositories) and image NVRs an
// image declares to those CPE indices.
const (
	BucketRedHat     = "Red Hat"
	bucketRedHatCPE  = "Red Hat CPE"
	bucketRedHatRepo = "repository"
	bucketRedHatNVR  = "nvr"
)

// Status is Trivy's vulnerability status, stored as an int.
type Status int

// Trivy's statuses (trivy-db pkg/types/status.go), in its order.
const (
	StatusUnknown Status = iota
	StatusNotAffected
	StatusAffected
	StatusFixed
	StatusUnderInvestigation
	StatusWillNotFix // Red Hat's "Will not fix"
	StatusFixDeferred
	StatusEndOfLife // Red Hat's "Out of support scope"
)

var statusNames = []string{"unknown", "not_affected", "affected", "fixed", "under_investigation", "will_not_fix", "fix_deferred", "end_of_life"}

// String is Trivy's name of the status ("will_not_fix").
func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return statusNames[StatusUnknown]
	}
	return statusNames[s]
}

// RedHatCVE is a CVE an entry resolves, with Red Hat's severity of it on
// that platform. ID is empty in the entry of an unfixed vulnerability
// stored under its CVE id.
type RedHatCVE struct {
	ID       string   `json:"ID,omitempty"`
	Severity Severity `json:"Severity,omitempty"`
}

// RedHatEntry is one state of a package for one vulnerability on the
// platforms of AffectedCPEIndices: a fix (FixedVersion, no status) or,
// unfixed, a status such as "affected" or "will not fix".
type RedHatEntry struct {
	FixedVersion       string      `json:"FixedVersion,omitempty"`
	Cves               []RedHatCVE `json:"Cves"`
	Arches             []string    `json:"Arches,omitempty"`
	Status             Status      `json:"Status,omitempty"`
	AffectedCPEIndices []int       `json:"Affected,omitempty"`
}

// RedHatAdvisory is a value of the "Red Hat" bucket: keyed by an RHSA
// id (fixed) or a CVE id (unfixed).
type RedHatAdvisory struct {
	ID      string        `json:"-"` // the key
	Entries []RedHatEntry `json:"Entries,omitempty"`
}

// RedHatAdvisories returns the Red Hat advisories of the binary package
// pkg ("openssl-libs", or "nodejs:12::npm" for a modular one), in key
// order.
func (d *DB) RedHatAdvisories(pkg string) ([]RedHatAdvisory, error) {
	var out []RedHatAdvisory
	err := d.bolt.View(func(tx *bolt.Tx) error {
		rb := tx.Bucket([]byte(BucketRedHat))
		if rb == nil {
			return nil
		}
		pb := rb.Bucket([]byte(pkg))
		if pb == nil {
			return nil
		}
		return pb.ForEach(func(k, v []byte) error {
			var a RedHatAdvisory
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("advisory %s/%s/%s: %w", BucketRedHat, pkg, k, err)
			}
			a.ID = string(k)
			out = append(out, a)
			return nil
		})
	})
	return out, err
}

// RedHatCPEIndices returns the CPE indices the content sets
// (repositories) and image NVRs ("ubi8-init-container-8.0-7-x86_64")
// map to, each once, in the order found.
func (d *DB) RedHatCPEIndices(repositories, nvrs []string) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	err := d.bolt.View(func(tx *bolt.Tx) error {
		root := tx.Bucket([]byte(bucketRedHatCPE))
		if root == nil {
			return nil
		}
		lookup := func(bucket string, keys []string) error {
			b := root.Bucket([]byte(bucket))
			if b == nil {
				return nil
			}
			for _, k := range keys {
				if k == "" {
					continue
				}
				v := b.Get([]byte(k))
				if len(v) == 0 {
					continue
				}
				var idx []int
				if err := json.Unmarshal(v, &idx); err != nil {
					return fmt.Errorf("%s/%s/%s: %w", bucketRedHatCPE, bucket, k, err)
				}
				for _, i := range idx {
					if !seen[i] {
						seen[i] = true
						out = append(out, i)
					}
				}
			}
			return nil
		}
		if err := lookup(bucketRedHatRepo, repositories); err != nil {
			return err
		}
		return lookup(bucketRedHatNVR, nvrs)
	})
	return out, err
}
