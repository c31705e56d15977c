package backup_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/test/berthproc"
	"github.com/berth-registry/berth/test/pgserver"
	"github.com/berth-registry/berth/test/s3server"
	"github.com/berth-registry/berth/test/testenv"
)

// pgBin is the directory of pg_dump and pg_restore, those of the test
// server's version; t fails under BERTH_E2E_REQUIRE=1 if they are missing.
func pgBin(t *testing.T) string {
	t.Helper()
	pgserver.Require(t)
	dir := pgserver.BinDir()
	var missing error
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := os.Stat(filepath.Join(dir, tool)); err != nil {
			missing = errors.Join(missing, err)
		}
	}
	testenv.Require(t, missing)
	return dir
}

// TestBackupRestorePostgres: a PostgreSQL deployment with its blobs in
// the data directory, backed up under pushes (pg_dump in the snapshot the
// blob list was read in), restored into a new database and directory.
func TestBackupRestorePostgres(t *testing.T) {
	bin := pgBin(t)
	root := t.TempDir()
	live, liveDB := filepath.Join(root, "live"), pgserver.Database(t)
	srv := berthproc.Start(t, live, "--database-url", liveDB)
	acked := seed(t, srv.Addr, "seed", seedPushes)
	snap := filepath.Join(root, "snap")
	acked = append(acked, underPushes(t, srv.Addr, func() {
		t.Log(mustBerth(t, "backup", "--data-dir", live, "--database-url", liveDB, "--to", snap, "--pg-bin", bin))
	})...)
	fsck(t, "--data-dir", live, "--database-url", liveDB)

	restored, newDB := filepath.Join(root, "restored"), pgserver.Database(t)
	t.Log(mustBerth(t, "restore", "--from", snap, "--data-dir", restored, "--database-url", newDB, "--pg-bin", bin))
	rep := fsck(t, "--data-dir", restored, "--database-url", newDB)
	if len(rep.Orphans) != 0 {
		t.Errorf("orphans after restore: %s", rep.Orphans)
	}
	srv2 := berthproc.Start(t, restored, "--database-url", newDB)
	pullAll(t, srv2.Addr, acked)

	// The database restored into must be empty.
	code, _, errOut := berth(t, "restore", "--from", snap, "--data-dir", filepath.Join(root, "again"), "--database-url", newDB, "--pg-bin", bin)
	if code == 0 || !strings.Contains(errOut, "not empty") {
		t.Errorf("restore into a used database: exit %d, %s", code, errOut)
	}
}

// TestBackupRestoreS3: with blobs in S3, a snapshot leaves them in the
// bucket (restore verifies them there) or, with --copy-blobs, holds them
// (restore puts them in the new data directory).
func TestBackupRestoreS3(t *testing.T) {
	bin := pgBin(t)
	s3 := s3server.Shared(t)
	root := t.TempDir()
	env := []string{"BERTH_S3_SECRET_KEY=" + s3server.SecretKey}
	t.Setenv("BERTH_S3_SECRET_KEY", s3server.SecretKey) // for the berth commands run here
	store := []string{"--storage", "s3", "--s3-endpoint", s3.Endpoint(), "--s3-bucket", s3.NewBucket(t),
		"--s3-region", s3server.Region, "--s3-access-key", s3server.AccessKey}
	liveDB := pgserver.Database(t)
	srv := berthproc.StartEnv(t, filepath.Join(root, "live"), env, append([]string{"--database-url", liveDB}, store...)...)
	acked := seed(t, srv.Addr, "img", 6)
	fsck(t, append([]string{"--database-url", liveDB}, store...)...)

	// In place: the snapshot is the dump and the list.
	inPlace := filepath.Join(root, "in-place")
	mustBerth(t, append([]string{"backup", "--database-url", liveDB, "--to", inPlace, "--pg-bin", bin}, store...)...)
	if _, err := os.Stat(filepath.Join(inPlace, "blobs")); !os.IsNotExist(err) {
		t.Errorf("a snapshot with blobs in place has a blobs directory: %v", err)
	}
	db1 := pgserver.Database(t)
	if code, _, errOut := berth(t, "restore", "--from", inPlace, "--data-dir", filepath.Join(root, "r0"), "--database-url", db1, "--pg-bin", bin); code == 0 ||
		!strings.Contains(errOut, "--storage s3") {
		t.Errorf("restore of blobs in place without the bucket: exit %d, %s", code, errOut)
	}
	r1 := filepath.Join(root, "r1")
	mustBerth(t, append([]string{"restore", "--from", inPlace, "--data-dir", r1, "--database-url", db1, "--pg-bin", bin}, store...)...)
	srv1 := berthproc.StartEnv(t, r1, env, append([]string{"--database-url", db1}, store...)...)
	pullAll(t, srv1.Addr, acked)
	srv1.Kill()

	// Copied: the snapshot is self-contained and restores onto a local disk.
	copied := filepath.Join(root, "copied")
	mustBerth(t, append([]string{"backup", "--database-url", liveDB, "--to", copied, "--pg-bin", bin, "--copy-blobs"}, store...)...)
	r2, db2 := filepath.Join(root, "r2"), pgserver.Database(t)
	mustBerth(t, "restore", "--from", copied, "--data-dir", r2, "--database-url", db2, "--pg-bin", bin)
	fsck(t, "--data-dir", r2, "--database-url", db2)
	srv2 := berthproc.Start(t, r2, "--database-url", db2)
	pullAll(t, srv2.Addr, acked)
}
