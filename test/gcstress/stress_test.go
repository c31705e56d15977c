// Package gcstress_test pushes images from 8 clients through the registry
// while garbage collection runs back to back with a time window of 0, on
// SQLite with a directory and on PostgreSQL with S3, and checks that every
// push acknowledged with 201 stays pullable, blob by blob. The clients
// re-use blobs that just became garbage, as docker does: they HEAD a blob
// and skip its upload when the repository has it, or mount it from another
// repository; and they delete some of their images, so that there is
// garbage to collect. At the end everything is deleted and collected, and
// the stores must be empty.
//
// The run lasts 12 s per backend (3 s with -short); BERTH_GC_STRESS=5m
// runs it for five minutes each.
package gcstress_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	blobfs "github.com/berth-registry/berth/internal/blob/fs"
	blobs3 "github.com/berth-registry/berth/internal/blob/s3"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/test/pgserver"
	"github.com/berth-registry/berth/test/s3server"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgserver.Cleanup()
	s3server.Cleanup()
	os.Exit(code)
}

// backend is a metadata store and a blob store, and a way to count the
// blobs whose bytes the latter holds.
type backend struct {
	meta  *sqlstore.Store
	blobs blob.Store
	bytes func(t *testing.T) int
	// path is the SQLite database file ("" on PostgreSQL).
	path string
}

func sqliteFS(t *testing.T) backend {
	dir := t.TempDir()
	m, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b, err := blobfs.New(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	return backend{meta: m, blobs: b, path: filepath.Join(dir, "meta.db"), bytes: func(t *testing.T) int {
		n := 0
		err := filepath.WalkDir(filepath.Join(dir, "data", "blobs"), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}}
}

func postgresS3(t *testing.T) backend {
	pgserver.Require(t)
	srv := s3server.Shared(t)
	m, err := sqlstore.OpenPostgres(t.Context(), pgserver.Database(t), sqlstore.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	bucket := srv.NewBucket(t)
	b, err := blobs3.New(t.Context(), blobs3.Options{Endpoint: srv.Endpoint(), Bucket: bucket, Region: s3server.Region,
		AccessKey: s3server.AccessKey, SecretKey: s3server.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return backend{meta: m, blobs: b, bytes: func(t *testing.T) int {
		c, err := srv.Client()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for o := range c.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Prefix: "blobs/", Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			n++
		}
		return n
	}}
}

func duration() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BERTH_GC_STRESS")); err == nil && d > 0 {
		return d
	}
	if testing.Short() {
		return 3 * time.Second
	}
	return 12 * time.Second
}

func TestStressSQLiteFS(t *testing.T)   { stress(t, sqliteFS(t)) }
func TestStressPostgresS3(t *testing.T) { stress(t, postgresS3(t)) }

const (
	pushers = 8
	nRepos  = 6
	nLayers = 48
)

// pushed is an image acknowledged with 201.
type pushed struct {
	repo, tag string
	digest    digest.Digest
	blobs     []digest.Digest
}

type stats struct {
	acked, untagged, deleted                        atomic.Int64
	headSkips, mounts, uploads                      atomic.Int64
	manifestRefused, uploadRefused                  atomic.Int64
	gcRuns, purgedManifests, purgedBlobs, bytesGone atomic.Int64
	unlinked, freed, failedBytes, gcErrors          atomic.Int64
	verified, lost, abandoned                       atomic.Int64
}

func newServer(t *testing.T, b backend) *client {
	// The server's errors are kept and printed if the test fails: a 500
	// must say why.
	errs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(errs, &slog.HandlerOptions{Level: slog.LevelError}))
	srv := httptest.NewServer(registry.New(b.meta, b.blobs, registry.Options{DeleteEnabled: true, Logger: logger}))
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("the server's errors:\n%s", errs.String())
		}
	})
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &client{base: srv.URL, hc: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// lockedBuffer is a log destination the server's goroutines share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) < 1<<20 { // bounded: the first MiB says enough
		b.buf = append(b.buf, p...)
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// layers are the shared layer contents, 512 bytes to 16 KiB each.
func layers() [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, nLayers)
	for i := range out {
		b := make([]byte, 512+r.IntN(16<<10))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		out[i] = b
	}
	return out
}

func repoName(i int) string { return fmt.Sprintf("stress/r%d", i) }

// collectLoop runs collections back to back with a time window of 0
// until ctx ends.
func collectLoop(ctx context.Context, t *testing.T, c *gc.Collector, st *stats) {
	for ctx.Err() == nil {
		res, err := c.Run(context.Background(), gc.Params{DeleteUntagged: true, Workers: 2, TimeWindow: 0}, nil)
		if err != nil {
			st.gcErrors.Add(1)
			t.Errorf("GC run: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		st.gcRuns.Add(1)
		st.purgedManifests.Add(res.PurgedManifests)
		st.purgedBlobs.Add(res.PurgedBlobs)
		st.bytesGone.Add(res.DeletedBytes)
		st.unlinked.Add(res.UnlinkedBlobs)
		st.freed.Add(res.FreedSpace)
		st.failedBytes.Add(res.FailedBytes)
	}
}

func stress(t *testing.T, b backend) {
	c := newServer(t, b)
	// Unpaced: the sweep takes the store as often as it can.
	collector := &gc.Collector{Meta: b.meta, Blobs: b.blobs, Pace: -1}
	pool := layers()
	var st stats
	ctx, cancel := context.WithTimeout(t.Context(), duration())
	defer cancel()
	// A base image in each repository, never deleted, whose layers the
	// clients HEAD and mount as they would a popular base's.
	var all []pushed
	for i := range nRepos {
		base, err := pushBase(c, i, pool)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, *base)
	}
	gcDone := make(chan struct{})
	go func() { defer close(gcDone); collectLoop(ctx, t, collector, &st) }()
	results := make([][]pushed, pushers)
	var wg sync.WaitGroup
	for p := range pushers {
		wg.Go(func() { results[p] = pusher(ctx, t, c, p, pool, &st) })
	}
	wg.Wait()
	cancel()
	<-gcDone
	for _, r := range results {
		all = append(all, r...)
	}
	t.Logf("%d pushes acknowledged (%d more untagged, %d deleted by the clients); %d HEAD skips, %d mounts, %d uploads; "+
		"refused and retried: %d manifest PUTs (MANIFEST_BLOB_UNKNOWN), %d uploads (BLOB_UPLOAD_UNKNOWN); %d pushes given up after 100 refusals",
		st.acked.Load(), st.untagged.Load(), st.deleted.Load(), st.headSkips.Load(), st.mounts.Load(), st.uploads.Load(),
		st.manifestRefused.Load(), st.uploadRefused.Load(), st.abandoned.Load())
	t.Logf("%d GC runs: %d manifests deleted, %d links removed, %d blobs deleted (%d bytes), bytes of %d blobs deleted, %d byte deletions failed",
		st.gcRuns.Load(), st.purgedManifests.Load(), st.unlinked.Load(), st.purgedBlobs.Load(), st.freed.Load(), st.bytesGone.Load(),
		st.failedBytes.Load())
	if st.gcRuns.Load() < 2 || st.purgedBlobs.Load() == 0 || st.acked.Load() == 0 {
		t.Fatalf("the run proved little: %d GC runs, %d blobs deleted, %d pushes", st.gcRuns.Load(), st.purgedBlobs.Load(), st.acked.Load())
	}
	lost := st.lost.Load() + int64(verify(t, c, all))
	// Once more after a collection of the quiet registry.
	if _, err := collector.Run(t.Context(), gc.Params{DeleteUntagged: true, Workers: 2}, nil); err != nil {
		t.Fatal(err)
	}
	lost += int64(verify(t, c, all))
	t.Logf("acknowledged pushes pulled blob by blob: %d before the client deleted them, %d at the end (twice): %d lost",
		st.verified.Load(), len(all), lost)
	if lost > 0 {
		t.FailNow()
	}
	emptied(t, b, c, collector, all)
}

// pusher pushes images until ctx ends and returns those acknowledged and
// not deleted since.
func pusher(ctx context.Context, t *testing.T, c *client, p int, pool [][]byte, st *stats) []pushed {
	r := rand.New(rand.NewPCG(uint64(p), 99))
	var kept []pushed
	for n := 0; ctx.Err() == nil; n++ {
		img, err := pushOne(c, r, p, n, pool, st)
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("pusher %d: %v", p, err)
			}
			return kept
		}
		if img != nil {
			kept = append(kept, *img)
		}
		// Keep a few images only: the others' blobs become garbage for the
		// collector, which later pushes of this client (or its
		// neighbours, by mount) want again.
		if len(kept) > 3 {
			i := r.IntN(len(kept))
			// Whole until now? (Every acknowledged push is pulled, blob by
			// blob, before it is deleted, or at the end.)
			st.lost.Add(int64(verify(t, c, kept[i:i+1])))
			st.verified.Add(1)
			if err := c.deleteManifest(kept[i].repo, kept[i].digest); err != nil {
				t.Errorf("pusher %d: deleting %s@%s: %v", p, kept[i].repo, kept[i].digest, err)
				return kept
			}
			kept = slices.Delete(kept, i, i+1)
			st.deleted.Add(1)
		}
	}
	return kept
}

// pushOne pushes one image of 3 shared layers and a config of its own,
// and returns it if it was tagged (an untagged one is garbage at once).
// A manifest PUT refused with MANIFEST_BLOB_UNKNOWN (the collector
// unlinked a blob the client had just pushed, or had found by HEAD) is
// retried as a client pushing again does: HEAD each blob, upload those
// missing, PUT.
func pushOne(c *client, r *rand.Rand, p, n int, pool [][]byte, st *stats) (*pushed, error) {
	// Each client works in two repositories and on 12 of the layers; its
	// neighbours share some of both.
	repo := repoName((p + 3*r.IntN(2)) % nRepos)
	var blobs [][]byte
	var descs []map[string]any
	for _, k := range r.Perm(12)[:3] {
		l := pool[(6*p+k)%nLayers]
		blobs = append(blobs, l)
		descs = append(descs, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar",
			"digest": digest.FromBytes(l), "size": len(l)})
	}
	cfg := []byte(fmt.Sprintf(`{"pusher":%d,"n":%d}`, p, n))
	blobs = append(blobs, cfg)
	body, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest.FromBytes(cfg), "size": len(cfg)},
		"layers": descs})
	md := digest.FromBytes(body)
	tagged := r.IntN(10) < 8
	ref := string(md)
	tag := fmt.Sprintf("p%d-%d", p, n)
	if tagged {
		ref = tag
	}
	for attempt := 0; ; attempt++ {
		// The blobs go up at once, as docker pushes layers.
		errs := make([]error, len(blobs))
		var wg sync.WaitGroup
		for i, b := range blobs {
			strategy, monolithic, from := r.IntN(3), r.IntN(2) == 0, repoName((p+1+r.IntN(nRepos-1))%nRepos)
			wg.Go(func() {
				switch {
				case attempt > 0:
					errs[i] = pushAgain(c, repo, b, st)
				case i == len(blobs)-1: // the config is new
					errs[i] = uploadRetry(c, repo, b, monolithic, st)
				default:
					errs[i] = ensureBlob(c, strategy, monolithic, repo, from, b, st)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
		err := c.putManifest(repo, ref, body)
		if err == nil {
			break
		}
		if !isCode(err, "MANIFEST_BLOB_UNKNOWN") {
			return nil, fmt.Errorf("manifest PUT %s:%s (attempt %d): %w", repo, ref, attempt+1, err)
		}
		st.manifestRefused.Add(1)
		if attempt == 100 {
			// With a window of 0 and the collector faster than the
			// uploads (S3), a push may never get all its blobs in at
			// once: it is given up, never acknowledged.
			st.abandoned.Add(1)
			return nil, nil
		}
	}
	ds := make([]digest.Digest, len(blobs))
	for i, b := range blobs {
		ds[i] = digest.FromBytes(b)
	}
	if !tagged {
		st.untagged.Add(1)
		return nil, nil
	}
	st.acked.Add(1)
	return &pushed{repo: repo, tag: tag, digest: md, blobs: ds}, nil
}

// pushBase pushes the base image of repository i: 6 layers of the pool
// (one client's first 6) and a config, tagged base.
func pushBase(c *client, i int, pool [][]byte) (*pushed, error) {
	repo := repoName(i)
	cfg := []byte(fmt.Sprintf(`{"base":%d}`, i))
	blobs := [][]byte{cfg}
	var descs []map[string]any
	for k := range 6 {
		l := pool[(6*i+k)%nLayers]
		blobs = append(blobs, l)
		descs = append(descs, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar",
			"digest": digest.FromBytes(l), "size": len(l)})
	}
	var ds []digest.Digest
	for _, b := range blobs {
		if err := c.upload(repo, b, false); err != nil {
			return nil, err
		}
		ds = append(ds, digest.FromBytes(b))
	}
	body, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": ds[0], "size": len(cfg)},
		"layers": descs})
	if err := c.putManifest(repo, "base", body); err != nil {
		return nil, err
	}
	return &pushed{repo: repo, tag: "base", digest: digest.FromBytes(body), blobs: ds}, nil
}

// pushAgain HEADs a blob and uploads it if the repository lacks it.
func pushAgain(c *client, repo string, data []byte, st *stats) error {
	ok, err := c.headBlob(repo, digest.FromBytes(data))
	if err != nil || ok {
		return err
	}
	return uploadRetry(c, repo, data, false, st)
}

// ensureBlob gets data into repo as a client would, by strategy: HEAD
// and skip if it is there (0), or mount it from another repository (1),
// or upload it.
func ensureBlob(c *client, strategy int, monolithic bool, repo, from string, data []byte, st *stats) error {
	switch strategy {
	case 0:
		ok, err := c.headBlob(repo, digest.FromBytes(data))
		if err != nil {
			return err
		}
		if ok {
			st.headSkips.Add(1)
			return nil
		}
	case 1:
		for attempt := 0; ; attempt++ {
			mounted, err := c.mount(repo, from, data)
			if err == nil {
				if mounted {
					st.mounts.Add(1)
				} else {
					st.uploads.Add(1)
				}
				return nil
			}
			if !isCode(err, "BLOB_UPLOAD_UNKNOWN") || attempt == 20 {
				return fmt.Errorf("mount into %s: %w", repo, err)
			}
			st.uploadRefused.Add(1)
		}
	}
	return uploadRetry(c, repo, data, monolithic, st)
}

// uploadRetry uploads data, again when the registry refused it because
// the collector took its blob as it was committed.
func uploadRetry(c *client, repo string, data []byte, monolithic bool, st *stats) error {
	for attempt := 0; ; attempt++ {
		err := c.upload(repo, data, monolithic)
		if err == nil {
			st.uploads.Add(1)
			return nil
		}
		if !isCode(err, "BLOB_UPLOAD_UNKNOWN") || attempt == 20 {
			return fmt.Errorf("upload into %s: %w", repo, err)
		}
		st.uploadRefused.Add(1)
	}
}

// verify pulls every image by tag, blob by blob, and returns how many are
// not whole.
func verify(t *testing.T, c *client, all []pushed) int {
	t.Helper()
	lost := 0
	for _, p := range all {
		_, d, err := c.getManifest(p.repo, p.tag)
		if err == nil && d != p.digest {
			err = fmt.Errorf("tag points at %s", d)
		}
		for _, bd := range p.blobs {
			if err != nil {
				break
			}
			var b []byte
			if b, err = c.getBlob(p.repo, bd); err == nil && digest.FromBytes(b) != bd {
				err = fmt.Errorf("blob %s has other bytes", bd)
			}
		}
		if err != nil {
			lost++
			if lost <= 20 {
				t.Errorf("LOST %s:%s (%s): %v", p.repo, p.tag, p.digest, err)
			}
		}
	}
	return lost
}

// emptied deletes every image and collects: nothing may be left, in the
// database or in the blob store.
func emptied(t *testing.T, b backend, c *client, collector *gc.Collector, all []pushed) {
	for _, p := range all {
		if err := c.deleteManifest(p.repo, p.digest); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := collector.Run(t.Context(), gc.Params{DeleteUntagged: true, Workers: 4}, nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx := t.Context()
	left := 0
	count := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	count(b.meta.GCUnreferencedLinks(ctx, time.Now().Add(time.Hour), func(meta.GCLink) error { left++; return nil }))
	count(b.meta.GCUnlinkedBlobs(ctx, func(meta.GCBlob) error { left++; return nil }))
	count(b.meta.GCManifests(ctx, func(string, []meta.GCManifest) error { left++; return nil }))
	pending, err := b.meta.GCPendingDeletions(ctx, "", 10)
	count(err)
	if left > 0 || len(pending) > 0 {
		t.Fatalf("after deleting everything and collecting: %d rows and %d byte deletions left", left, len(pending))
	}
	if n := b.bytes(t); n != 0 {
		t.Fatalf("after deleting everything and collecting: the blob store holds %d blobs", n)
	}
	t.Logf("everything deleted and collected: database and blob store empty")
}
