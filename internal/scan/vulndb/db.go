// Package vulndb reads Trivy's vulnerability database, schema version 2,
// exactly as Aqua publishes it: the OCI artifact whose one layer
// (LayerMediaType) is a tar.gz holding trivy.db (a bbolt file: one root
// bucket per platform or ecosystem source, one bucket per package inside,
// advisories keyed by vulnerability id; plus the "vulnerability" and
// "data-source" buckets) and metadata.json. All knowledge of that format
// stays in this package. Manager keeps the active database and swaps it
// atomically; scans in flight finish on the one they started with.
package vulndb

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Media types of the OCI artifact Aqua publishes (trivy pkg/db/db.go).
const (
	LayerMediaType  = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
	ConfigMediaType = "application/vnd.aquasec.trivy.config.v1+json"
	// SchemaVersion is the only metadata.json Version read: Trivy refuses
	// any other, and so do we.
	SchemaVersion = 2
)

// File names inside the layer.
const (
	dbFile   = "trivy.db"
	metaFile = "metadata.json"
)

// ErrInvalid wraps every reason a database is refused.
var ErrInvalid = errors.New("invalid vulnerability database")

// Metadata is metadata.json.
type Metadata struct {
	Version      int       `json:"Version"`
	NextUpdate   time.Time `json:"NextUpdate"`
	UpdatedAt    time.Time `json:"UpdatedAt"`
	DownloadedAt time.Time `json:"DownloadedAt"`
}

// Severity is Trivy's: 0 unknown, 1 low, 2 medium, 3 high, 4 critical.
type Severity int

// Trivy's severities.
const (
	SeverityUnknown Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

// ParseSeverity reads Trivy's upper-case names (the deprecated
// Vulnerability.Severity string).
func ParseSeverity(s string) Severity {
	switch strings.ToUpper(s) {
	case "LOW":
		return SeverityLow
	case "MEDIUM":
		return SeverityMedium
	case "HIGH":
		return SeverityHigh
	case "CRITICAL":
		return SeverityCritical
	}
	return SeverityUnknown
}

// Advisory is Trivy's types.Advisory as stored: one package's state for
// one vulnerability.
type Advisory struct {
	VulnerabilityID    string   `json:"-"` // the key
	VendorIDs          []string `json:"VendorIDs,omitempty"`
	Status             int      `json:"Status,omitempty"`
	Severity           Severity `json:"Severity,omitempty"`
	FixedVersion       string   `json:"FixedVersion,omitempty"`
	AffectedVersion    string   `json:"AffectedVersion,omitempty"`
	VulnerableVersions []string `json:"VulnerableVersions,omitempty"`
	PatchedVersions    []string `json:"PatchedVersions,omitempty"`
	UnaffectedVersions []string `json:"UnaffectedVersions,omitempty"`
	// Arches and Entries: Rocky and Oracle advisories hold one entry per
	// fixed version, each with the architectures it applies to.
	Arches  []string   `json:"Arches,omitempty"`
	Entries []Advisory `json:"Entries,omitempty"`
	// Bucket is the root bucket it was read from ("debian 12",
	// "go::The Go Vulnerability Database").
	Bucket string `json:"-"`
}

// CVSS is one source's scores.
type CVSS struct {
	V2Vector  string  `json:"V2Vector,omitempty"`
	V3Vector  string  `json:"V3Vector,omitempty"`
	V40Vector string  `json:"V40Vector,omitempty"`
	V2Score   float64 `json:"V2Score,omitempty"`
	V3Score   float64 `json:"V3Score,omitempty"`
	V40Score  float64 `json:"V40Score,omitempty"`
}

// Vulnerability is Trivy's types.Vulnerability: the detail of an id.
type Vulnerability struct {
	Title            string              `json:"Title,omitempty"`
	Description      string              `json:"Description,omitempty"`
	Severity         string              `json:"Severity,omitempty"` // deprecated
	CweIDs           []string            `json:"CweIDs,omitempty"`
	VendorSeverity   map[string]Severity `json:"VendorSeverity,omitempty"`
	CVSS             map[string]CVSS     `json:"CVSS,omitempty"`
	References       []string            `json:"References,omitempty"`
	PublishedDate    *time.Time          `json:"PublishedDate,omitempty"`
	LastModifiedDate *time.Time          `json:"LastModifiedDate,omitempty"`
}

// DataSource is an entry of the data-source bucket (keyed by root
// bucket): where a platform's advisories come from.
type DataSource struct {
	ID   string `json:"ID"`
	Name string `json:"Name"`
	URL  string `json:"URL"`
}

// Buckets of the shipped file that are not platforms.
const (
	bucketVulnerability = "vulnerability"
	bucketDataSource    = "data-source"
)

// DB is an open, validated database, read-only.
type DB struct {
	bolt *bolt.DB
	meta Metadata
	// Digest names it: the layer digest it came from.
	Digest string
	// Platforms and Vulnerabilities are the sanity counts taken at open.
	Platforms, Vulnerabilities int
}

// Open opens and validates the database extracted in dir: metadata.json
// of schema version 2, trivy.db opened read-only with the vulnerability
// and data-source buckets and at least one platform bucket.
func Open(dir, digest string) (*DB, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, metaFile, err)
	}
	var m Metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, metaFile, err)
	}
	if m.Version != SchemaVersion {
		return nil, fmt.Errorf("%w: schema version %d, want %d", ErrInvalid, m.Version, SchemaVersion)
	}
	bdb, err := bolt.Open(filepath.Join(dir, dbFile), 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, dbFile, err)
	}
	d := &DB{bolt: bdb, meta: m, Digest: digest}
	err = bdb.View(func(tx *bolt.Tx) error {
		vb := tx.Bucket([]byte(bucketVulnerability))
		if vb == nil || tx.Bucket([]byte(bucketDataSource)) == nil {
			return fmt.Errorf("%w: no %q or %q bucket", ErrInvalid, bucketVulnerability, bucketDataSource)
		}
		d.Vulnerabilities = vb.Stats().KeyN
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if n := string(name); n != bucketVulnerability && n != bucketDataSource && n != bucketRedHatCPE {
				d.Platforms++
			}
			return nil
		})
	})
	if err == nil && (d.Platforms == 0 || d.Vulnerabilities == 0) {
		err = fmt.Errorf("%w: %d platform buckets and %d vulnerabilities", ErrInvalid, d.Platforms, d.Vulnerabilities)
	}
	if err != nil {
		bdb.Close()
		return nil, err
	}
	return d, nil
}

// Close releases the file.
func (d *DB) Close() error { return d.bolt.Close() }

// Meta is its metadata.json.
func (d *DB) Meta() Metadata { return d.meta }

// Advisories returns the advisories of pkg in the root bucket platform
// ("debian 12"), or, when platform ends with "::", in every root bucket
// with that prefix (a language ecosystem: "go::").
func (d *DB) Advisories(platform, pkg string) ([]Advisory, error) {
	var out []Advisory
	err := d.bolt.View(func(tx *bolt.Tx) error {
		read := func(root string, rb *bolt.Bucket) error {
			pb := rb.Bucket([]byte(pkg))
			if pb == nil {
				return nil
			}
			return pb.ForEach(func(k, v []byte) error {
				var a Advisory
				if err := json.Unmarshal(v, &a); err != nil {
					return fmt.Errorf("advisory %s/%s/%s: %w", root, pkg, k, err)
				}
				a.VulnerabilityID, a.Bucket = string(k), root
				out = append(out, a)
				return nil
			})
		}
		if !strings.HasSuffix(platform, "::") {
			if rb := tx.Bucket([]byte(platform)); rb != nil {
				return read(platform, rb)
			}
			return nil
		}
		c := tx.Cursor()
		for k, _ := c.Seek([]byte(platform)); k != nil && strings.HasPrefix(string(k), platform); k, _ = c.Next() {
			if err := read(string(k), tx.Bucket(k)); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Vulnerability returns the detail of id (false if the file has none).
func (d *DB) Vulnerability(id string) (Vulnerability, bool) {
	var v Vulnerability
	found := false
	_ = d.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketVulnerability)).Get([]byte(id))
		found = b != nil && json.Unmarshal(b, &v) == nil
		return nil
	})
	return v, found
}

// DataSource returns where the advisories of root bucket platform come
// from (zero if unknown).
func (d *DB) DataSource(platform string) DataSource {
	var ds DataSource
	_ = d.bolt.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bucketDataSource)).Get([]byte(platform)); b != nil {
			_ = json.Unmarshal(b, &ds)
		}
		return nil
	})
	return ds
}
