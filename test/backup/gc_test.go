package backup_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/backup"
	blobfs "github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/registry"
)

const (
	churners      = 2
	maxChurn      = 200 // pushes per churner, a bound
	gcBackups     = 6
	gcTestTimeout = 90 * time.Second
)

// TestBackupUnderGC: pushes that keep untagging images, garbage
// collection running back to back with no time window, and backups
// taken meanwhile (in process, on the same data directory). Every
// snapshot restores and is consistent: no blob it references was lost to
// a collection between its database copy and its blob copy.
func TestBackupUnderGC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), gcTestTimeout)
	defer cancel()
	dir := t.TempDir()
	live := filepath.Join(dir, "live")
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(live, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	blobs, err := blobfs.New(live)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(registry.New(store, blobs, registry.Options{DeleteEnabled: true, Logger: quiet}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	var (
		stop              = make(chan struct{})
		wg                sync.WaitGroup
		acked, refused    atomic.Int64
		gcRuns, gcDeleted atomic.Int64
		stopOnce          sync.Once
		stopAll           = func() { stopOnce.Do(func() { close(stop) }) }
		collector         = &gc.Collector{Meta: store, Blobs: blobs, Pace: -1}
		running           = func() bool {
			select {
			case <-stop:
				return false
			default:
				return ctx.Err() == nil
			}
		}
	)
	defer func() { stopAll(); wg.Wait() }()
	for w := range churners {
		wg.Go(func() {
			// Three tags per churner, pushed over and over: the images
			// they leave untagged are garbage at once.
			for i := 0; i < maxChurn && running(); i++ {
				if _, err := push(ctx, addr, fmt.Sprintf("library/churn%d", w), fmt.Sprintf("t%d", i%3), int64(4096+i*64)); err != nil {
					// A push may be refused when a collection unlinked
					// its blobs before its manifest (MANIFEST_BLOB_UNKNOWN):
					// the client pushes again; never acknowledged and lost.
					refused.Add(1)
					continue
				}
				acked.Add(1)
			}
		})
	}
	wg.Go(func() {
		for running() {
			res, err := collector.Run(ctx, gc.Params{DeleteUntagged: true, Workers: 2}, nil)
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("GC: %v", err)
				}
				return
			}
			gcRuns.Add(1)
			gcDeleted.Add(res.DeletedBytes)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); gcRuns.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}

	src := backup.Source{DataDir: live, Blobs: blobs}
	snap := filepath.Join(dir, "snap")
	attempts := 0
	for i := range gcBackups {
		res, err := backup.Backup(ctx, src, backup.BackupOptions{To: snap, NoLink: i%2 == 1, Attempts: 20})
		if err != nil {
			t.Fatalf("backup %d under GC: %v", i, err)
		}
		attempts += res.Attempts
		restored := filepath.Join(dir, fmt.Sprintf("restored%d", i))
		if _, err := backup.Restore(ctx, backup.RestoreOptions{From: snap, DataDir: restored}); err != nil {
			t.Fatalf("restore %d: %v", i, err)
		}
		rb, err := blobfs.New(restored)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := backup.Fsck(ctx, backup.Source{DataDir: restored, Blobs: rb}, backup.FsckOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Consistent || len(rep.Orphans) > 0 {
			t.Fatalf("snapshot %d restored inconsistent: %+v", i, rep)
		}
		t.Logf("backup %d: %d database copies; %d artifacts, %d blobs; %d linked, %d copied, %d kept, %d removed",
			i, res.Attempts, rep.Counts.Artifacts, rep.Counts.Blobs, res.Linked, res.Copied, res.Skipped, res.Pruned)
	}
	stopAll()
	wg.Wait()
	t.Logf("%d backups took %d database copies; meanwhile %d pushes acknowledged, %d refused, %d collections deleted %d blobs' bytes",
		gcBackups, attempts, acked.Load(), refused.Load(), gcRuns.Load(), gcDeleted.Load())
	if gcRuns.Load() < 2 || acked.Load() == 0 {
		t.Errorf("too little churn: %d collections, %d pushes", gcRuns.Load(), acked.Load())
	}
}
