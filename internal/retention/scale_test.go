package retention

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/oci"
)

// loadRepository writes n artifacts into repo p/big of the SQLite
// database at path in one transaction, as many pushes would have left
// them (a manifest with its config blob, one or two tags, push times
// spread over 400 days, some pulled): what the 10,000-artifact
// repository is, without 30,000 separate transactions to make it.
func loadRepository(t testing.TB, path string, n int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_pragma=foreign_keys(ON)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	now := time.Now()
	ms := func(days int) int64 { return now.Add(-time.Duration(days) * 24 * time.Hour).UnixMilli() }
	exec := func(q string, args ...any) {
		if _, err := tx.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	const repo = "p/big"
	exec(`INSERT INTO repositories (name, created_at) VALUES (?, ?)`, repo, ms(500))
	for i := range n {
		cfg := digest.FromString(fmt.Sprint("config ", i))
		body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":1000}}`,
			oci.MediaTypeImageManifest, cfg)
		d := digest.FromString(body)
		pushed := ms(i % 400)
		pulled := int64(0)
		if i%3 == 0 {
			pulled = ms(i % 50)
		}
		exec(`INSERT INTO blobs (digest, size, created_at) VALUES (?, 1000, ?)`, string(cfg), pushed)
		exec(`INSERT INTO repository_blobs (repo, digest, created_at) VALUES (?, ?, ?)`, repo, string(cfg), pushed)
		exec(`INSERT INTO manifests (repo, digest, media_type, artifact_type, size, body, created_at, pull_time)
			VALUES (?, ?, ?, '', ?, ?, ?, ?)`, repo, string(d), oci.MediaTypeImageManifest, len(body), body, pushed, pulled)
		exec(`INSERT INTO manifest_refs (repo, manifest, ref, kind) VALUES (?, ?, ?, 0)`, repo, string(d), string(cfg))
		for _, tag := range [][]string{{fmt.Sprint("dev-", i)}, {fmt.Sprint("test-", i), fmt.Sprint("rc-", i)},
			{fmt.Sprint("prod-", i)}, {fmt.Sprintf("v1.%d.%d", i/100, i%100)}, nil}[i%5] {
			exec(`INSERT INTO tags (repo, name, digest, updated_at, pull_time) VALUES (?, ?, ?, ?, ?)`, repo, tag, string(d), pushed, pulled)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestEvaluateRepository10000 is the figure: retention over a
// repository of 10,000 artifacts, read from the store and evaluated
// (less than 5 s asked); then a whole dry run of it through the job queue
// (report, log table and freed bytes included), and the real run.
func TestEvaluateRepository10000(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 10,000 artifacts")
	}
	// Under the race detector (make test) the same path runs on 2,000
	// artifacts, without the time limit: loading and reading 10,000 is
	// about 25 times slower there and would take minutes.
	n := 10000
	if raceDetector {
		n = 2000
	}
	p := seedsPolicy(t)
	e := newRunEnv(t, p)
	loadRepository(t, e.path, n)

	start := time.Now()
	stored, err := e.store.RetentionArtifacts(e.ctx, "p/big")
	if err != nil || len(stored) != n {
		t.Fatalf("%d artifacts: %v", len(stored), err)
	}
	read := time.Since(start)
	arts := make([]Artifact, len(stored))
	for i := range stored {
		arts[i] = artifactOf(&stored[i], func(string) bool { return false })
	}
	plan := Evaluate(p, "big", arts, time.Now())
	evaluated := time.Since(start)
	del := len(plan.deletedDigests())
	if evaluated > 5*time.Second && !raceDetector {
		t.Errorf("reading and evaluating %d artifacts took %v, want < 5 s", n, evaluated)
	}
	if del == 0 || del == n {
		t.Fatalf("%d to delete", del)
	}

	e.start()
	start = time.Now()
	eid := e.enqueue(true)
	e.wait(eid, meta.JobSuccess, time.Minute)
	dry := time.Since(start)
	a, _ := ReadTaskAttrs(e.tasks(eid)["big"].ExtraAttrs)
	if a.Total != n || a.DeletedCount != del || len(a.Deleted) != del || a.FreedBytes == 0 {
		t.Errorf("dry run: total %d, deleted %d (%d listed), freed %d; want %d deleted", a.Total, a.DeletedCount, len(a.Deleted), a.FreedBytes, del)
	}
	t.Logf("%d artifacts: read in %v, evaluated by %v (%d to delete); dry run through the queue %v (%d bytes to free)",
		n, read.Round(time.Millisecond), evaluated.Round(time.Millisecond), del, dry.Round(time.Millisecond), a.FreedBytes)
}

// BenchmarkRealRun10000: a real run deleting 7,600 of a repository's
// 10,000 artifacts (each through the guarded delete, in its own
// transaction), after a dry run whose figures it must match.
func BenchmarkRealRun10000(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		p := seedsPolicy(b)
		e := newRunEnv(b, p)
		loadRepository(b, e.path, 10000)
		e.start()
		eid := e.enqueue(true)
		e.wait(eid, meta.JobSuccess, time.Minute)
		dry, _ := ReadTaskAttrs(e.tasks(eid)["big"].ExtraAttrs)
		b.StartTimer()
		eid = e.enqueue(false)
		e.wait(eid, meta.JobSuccess, 10*time.Minute)
		b.StopTimer()
		real, _ := ReadTaskAttrs(e.tasks(eid)["big"].ExtraAttrs)
		if real.DeletedCount != dry.DeletedCount || real.FreedBytes != dry.FreedBytes || e.count("big") != 10000-dry.DeletedCount {
			b.Errorf("real run: deleted %d, freed %d; dry run: %d, %d", real.DeletedCount, real.FreedBytes, dry.DeletedCount, dry.FreedBytes)
		}
		b.StartTimer()
	}
}

// BenchmarkReadEvaluate10000: reading and evaluating the repository.
func BenchmarkReadEvaluate10000(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.db")
	store, err := sqlstore.OpenSQLite(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	loadRepository(b, path, 10000)
	p := seedsPolicy(b)
	b.ResetTimer()
	for b.Loop() {
		stored, err := store.RetentionArtifacts(b.Context(), "p/big")
		if err != nil {
			b.Fatal(err)
		}
		arts := make([]Artifact, len(stored))
		for i := range stored {
			arts[i] = artifactOf(&stored[i], func(string) bool { return false })
		}
		Evaluate(p, "big", arts, time.Now())
	}
}
