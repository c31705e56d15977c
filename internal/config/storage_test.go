package config

import (
	"strings"
	"testing"
)

func TestStorageSettings(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Storage != DefaultStorage() || c.Storage.Kind != "fs" || !c.Storage.S3.PathStyle || !c.Storage.S3.Redirect {
		t.Fatalf("storage defaults: %+v", c.Storage)
	}
	c, err = load(t, []string{"--storage", "s3", "--s3-bucket", "layers", "--s3-redirect=false"}, map[string]string{
		"BERTH_S3_ENDPOINT":   "https://s3.eu-west-1.amazonaws.com",
		"BERTH_S3_PREFIX":     "berth/",
		"BERTH_S3_REGION":     "eu-west-1",
		"BERTH_S3_ACCESS_KEY": "AKIAEXAMPLE",
		"BERTH_S3_SECRET_KEY": "hunter2",
		"BERTH_S3_PATH_STYLE": "false",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Storage{Kind: "s3", S3: S3{Endpoint: "https://s3.eu-west-1.amazonaws.com", Bucket: "layers", Prefix: "berth/",
		Region: "eu-west-1", AccessKey: "AKIAEXAMPLE", SecretKey: "hunter2"}}
	if c.Storage != want {
		t.Fatalf("storage settings: %+v", c.Storage)
	}
}

func TestStorageInvalid(t *testing.T) {
	s3 := func(args ...string) []string {
		return append([]string{"--storage", "s3", "--s3-endpoint", "http://127.0.0.1:9000", "--s3-bucket", "layers"}, args...)
	}
	for field, args := range map[string][]string{
		"storage":       {"--storage", "gcs"},
		"s3-endpoint":   {"--storage", "s3", "--s3-bucket", "layers"},
		"s3-endpoint ":  s3("--s3-endpoint", "http://user:hunter2@127.0.0.1:9000"),
		"s3-endpoint  ": s3("--s3-endpoint", "127.0.0.1:9000"),
		"s3-bucket":     s3("--s3-bucket", "Not_A_Bucket"),
		"s3-bucket ":    s3("--s3-bucket", ""),
		"s3-prefix":     s3("--s3-prefix", "a/../b"),
		"s3-access-key": s3("--s3-secret-key", "hunter2"),
		"s3-secret-key": s3("--s3-access-key", "AKIAEXAMPLE"),
	} {
		_, err := load(t, args, nil)
		if field = strings.TrimSpace(field); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: err = %v, want it to name the field", field, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error quotes the secret: %v", field, err)
		}
	}
	// S3 settings are not checked when the store is fs.
	if _, err := load(t, []string{"--s3-bucket", "Not_A_Bucket"}, nil); err != nil {
		t.Errorf("fs storage with an unused bad s3-bucket: %v", err)
	}
}

// TestBlobDir: a blob directory outside --data-dir is shared, and refused
// with SQLite naming both flags; inside --data-dir it is not shared.
func TestBlobDir(t *testing.T) {
	c, err := load(t, []string{"--data-dir", "/var/lib/berth"}, nil)
	if err != nil || c.SharedBlobDir() || c.BlobRoot() != "/var/lib/berth" {
		t.Fatalf("default: shared %v, root %q, %v", c.SharedBlobDir(), c.BlobRoot(), err)
	}
	c, err = load(t, []string{"--data-dir", "/var/lib/berth", "--blob-dir", "/var/lib/berth/store"}, nil)
	if err != nil || c.SharedBlobDir() || c.BlobRoot() != "/var/lib/berth/store" {
		t.Fatalf("inside the data dir: shared %v, root %q, %v", c.SharedBlobDir(), c.BlobRoot(), err)
	}
	_, err = load(t, []string{"--data-dir", "/var/lib/berth", "--blob-dir", "/mnt/nfs/berth"}, nil)
	if err == nil || !strings.Contains(err.Error(), "blob-dir") || !strings.Contains(err.Error(), "--database-url") {
		t.Fatalf("shared blob dir with SQLite: %v, want an error naming blob-dir and --database-url", err)
	}
	c, err = load(t, []string{"--data-dir", "/var/lib/berth", "--database-url", "postgres://berth@db/berth"},
		map[string]string{"BERTH_BLOB_DIR": "/var/lib/berth-shared"})
	if err != nil || !c.SharedBlobDir() || c.BlobRoot() != "/var/lib/berth-shared" {
		t.Fatalf("shared with PostgreSQL: shared %v, root %q, %v", c.SharedBlobDir(), c.BlobRoot(), err)
	}
	_, err = load(t, []string{"--storage", "s3", "--s3-endpoint", "http://127.0.0.1:9000", "--s3-bucket", "layers",
		"--blob-dir", "/mnt/nfs/berth"}, nil)
	if err == nil || !strings.Contains(err.Error(), "blob-dir") {
		t.Fatalf("blob-dir with s3: %v", err)
	}
}
