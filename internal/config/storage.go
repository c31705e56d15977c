package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
)

// Storage selects the blob store: a directory under --data-dir (fs), or
// an S3-compatible bucket shared by several replicas (s3).
type Storage struct {
	Kind string // "fs" or "s3"
	S3   S3
	// BlobDir is the fs store's root (it holds blobs/ and uploads/);
	// empty: --data-dir. Outside --data-dir it may be a shared filesystem
	// (NFS, CephFS, …) that several replicas on one PostgreSQL use.
	BlobDir string
}

// S3 locates the bucket. SecretKey must never be logged or quoted back.
type S3 struct {
	Endpoint  string // http(s)://HOST[:PORT]
	Bucket    string
	Prefix    string // key prefix inside the bucket, e.g. "berth/"
	Region    string
	AccessKey string // empty with SecretKey: from the environment/IAM
	SecretKey string
	PathStyle bool // ENDPOINT/BUCKET rather than BUCKET.ENDPOINT
	Redirect  bool // blob GET answers 307 to a presigned URL
}

// DefaultStorage: blobs in --data-dir; for S3 path-style and redirects.
func DefaultStorage() Storage {
	return Storage{Kind: "fs", S3: S3{PathStyle: true, Redirect: true}}
}

func (s *Storage) flags(fs *flag.FlagSet) {
	fs.StringVar(&s.Kind, "storage", s.Kind, "blob storage: fs (in --data-dir) or s3 (a bucket shared by replicas)")
	fs.StringVar(&s.BlobDir, "blob-dir", s.BlobDir, "directory of the fs blob store (blobs/ and uploads/; empty: --data-dir); outside --data-dir it may be a shared filesystem (NFS, CephFS) used by several replicas with --database-url")
	fs.StringVar(&s.S3.Endpoint, "s3-endpoint", s.S3.Endpoint, "S3 endpoint URL http(s)://HOST[:PORT]")
	fs.StringVar(&s.S3.Bucket, "s3-bucket", s.S3.Bucket, "S3 bucket (must exist)")
	fs.StringVar(&s.S3.Prefix, "s3-prefix", s.S3.Prefix, "key prefix inside the bucket")
	fs.StringVar(&s.S3.Region, "s3-region", s.S3.Region, "S3 region (empty: asked of the server)")
	fs.StringVar(&s.S3.AccessKey, "s3-access-key", s.S3.AccessKey, "S3 access key (empty: AWS_*/MINIO_* environment, credentials file or IAM role)")
	fs.StringVar(&s.S3.SecretKey, "s3-secret-key", s.S3.SecretKey, "S3 secret key (prefer the environment variable BERTH_S3_SECRET_KEY)")
	fs.BoolVar(&s.S3.PathStyle, "s3-path-style", s.S3.PathStyle, "address the bucket as ENDPOINT/BUCKET (MinIO, most self-hosted servers)")
	fs.BoolVar(&s.S3.Redirect, "s3-redirect", s.S3.Redirect, "answer blob GETs with a redirect to a presigned S3 URL instead of streaming through berth")
}

var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// validate names the first bad storage setting; never quotes the secret.
func (s *Storage) validate() error {
	switch s.Kind {
	case "fs":
		return nil
	case "s3":
		if s.BlobDir != "" {
			return errors.New("blob-dir: only with --storage fs (blobs are in the S3 bucket)")
		}
	default:
		return fmt.Errorf("storage %q: want fs or s3", s.Kind)
	}
	o := s.S3
	u, err := url.Parse(o.Endpoint)
	if o.Endpoint == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "" {
		return errors.New("s3-endpoint: want http(s)://HOST[:PORT] with --storage s3")
	}
	if !bucketName.MatchString(o.Bucket) {
		return fmt.Errorf("s3-bucket %q: want 3 to 63 lower-case letters, digits, dots and hyphens", o.Bucket)
	}
	if len(o.Prefix) > 256 || strings.ContainsAny(o.Prefix, "\\\x00\r\n") || strings.Contains("/"+o.Prefix+"/", "/../") {
		return fmt.Errorf("s3-prefix %q: want at most 256 characters, without .. or control characters", o.Prefix)
	}
	if (o.AccessKey == "") != (o.SecretKey == "") {
		return errors.New("s3-access-key and s3-secret-key: give both, or neither to take credentials from the environment")
	}
	return nil
}

// BlobRoot is the fs store's directory: --blob-dir, else --data-dir.
func (c *Config) BlobRoot() string {
	if c.Storage.BlobDir != "" {
		return c.Storage.BlobDir
	}
	return c.DataDir
}

// SharedBlobDir reports whether the fs store lives outside --data-dir, so
// other processes may use it too: the data directory's lock does not cover
// it, and nothing in it may be assumed to be ours alone.
func (c *Config) SharedBlobDir() bool {
	if c.Storage.Kind != "fs" || c.Storage.BlobDir == "" {
		return false
	}
	data, err1 := filepath.Abs(c.DataDir)
	dir, err2 := filepath.Abs(c.Storage.BlobDir)
	if err1 != nil || err2 != nil {
		return true
	}
	rel, err := filepath.Rel(data, dir)
	return err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// validateBlobDir refuses a shared blob directory with SQLite, which has
// one writer: replicas sharing blobs must share their metadata too.
func (c *Config) validateBlobDir() error {
	if c.SharedBlobDir() && c.Database.URL == "" {
		return fmt.Errorf("blob-dir %q is outside --data-dir: a blob directory shared by several berth processes "+
			"needs a shared PostgreSQL --database-url (SQLite in --data-dir has one writer); "+
			"with SQLite, leave --blob-dir empty or put it inside --data-dir", c.Storage.BlobDir)
	}
	return nil
}
