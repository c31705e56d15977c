// Package backup_test runs berth backup, restore and fsck as a user does:
// the real binary, against a running berth taking pushes.
package backup_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/berth-registry/berth/test/berthproc"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgserver.Cleanup()
	berthproc.Cleanup()
	os.Exit(code)
}

const (
	seedPushes     = 12               // acknowledged before any backup
	pushers        = 4                // concurrent pushers during the backup
	maxPushes      = 40               // per pusher: a bound, the backup ends long before
	pushLoopBudget = 60 * time.Second // and a bound in time
)

// pushed is one acknowledged push.
type pushed struct {
	repo, tag string
	digest    v1.Hash
	at        time.Time // when the push was acknowledged
}

// push writes a random image of one layer and returns it once berth has
// acknowledged the manifest.
func push(ctx context.Context, addr, repo, tag string, size int64) (pushed, error) {
	img, err := random.Image(size, 1)
	if err != nil {
		return pushed{}, err
	}
	ref, err := name.ParseReference(addr+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		return pushed{}, err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return pushed{}, err
	}
	d, err := img.Digest()
	return pushed{repo: repo, tag: tag, digest: d, at: time.Now()}, err
}

// pullAll pulls every image by tag from addr, checks its digest, and
// verifies every layer's content (validate.Image reads them all).
func pullAll(t *testing.T, addr string, images []pushed) {
	t.Helper()
	for _, p := range images {
		ref, err := name.ParseReference(addr+"/"+p.repo+":"+p.tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(ref)
		if err != nil {
			t.Errorf("pull %s:%s: %v", p.repo, p.tag, err)
			continue
		}
		if d, _ := img.Digest(); d != p.digest {
			t.Errorf("%s:%s is %s, pushed %s", p.repo, p.tag, d, p.digest)
		}
		if err := validate.Image(img); err != nil {
			t.Errorf("%s:%s: %v", p.repo, p.tag, err)
		}
	}
}

// berth runs a berth command and returns its exit status and output.
func berth(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(berthproc.Binary(t), args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// mustBerth runs a berth command that must succeed.
func mustBerth(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := berth(t, args...)
	if code != 0 {
		t.Fatalf("berth %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

var backupLine = regexp.MustCompile(`blobs: (\d+) linked, (\d+) copied, (\d+) already there, (\d+) removed; (\d+) database copies`)

// backupCounts parses berth backup's summary: linked, copied, skipped,
// pruned, database copies.
func backupCounts(t *testing.T, out string) [5]int {
	t.Helper()
	m := backupLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary in berth backup's output:\n%s", out)
	}
	var n [5]int
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	return n
}

// fsckReport is the part of berth fsck --json the tests read.
type fsckReport struct {
	Consistent bool `json:"consistent"`
	Counts     struct {
		Artifacts int   `json:"artifacts"`
		Blobs     int   `json:"blobs"`
		BlobBytes int64 `json:"blob_bytes"`
	} `json:"counts"`
	Problems []json.RawMessage `json:"problems"`
	Orphans  []json.RawMessage `json:"orphans"`
}

func fsck(t *testing.T, args ...string) fsckReport {
	t.Helper()
	code, out, errOut := berth(t, append([]string{"fsck", "--json"}, args...)...)
	var rep fsckReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("berth fsck: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	if !rep.Consistent || code != 0 || len(rep.Problems) > 0 {
		t.Fatalf("berth fsck %v: exit %d, inconsistent:\n%s", args, code, out)
	}
	return rep
}

// seed pushes n images one after another.
func seed(t *testing.T, addr, prefix string, n int) []pushed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []pushed
	for i := range n {
		p, err := push(ctx, addr, fmt.Sprintf("library/%s%d", prefix, i%3), fmt.Sprintf("t%d", i), int64(1024*(i+1)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// underPushes runs fn while pushers push to addr, and returns the pushes
// acknowledged before fn started.
func underPushes(t *testing.T, addr string, fn func()) []pushed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pushLoopBudget)
	defer cancel()
	var (
		mu   sync.Mutex
		acks []pushed
		wg   sync.WaitGroup
		n    atomic.Int64
		stop = make(chan struct{})
	)
	for w := range pushers {
		wg.Go(func() {
			for i := range maxPushes {
				select {
				case <-stop:
					return
				default:
				}
				p, err := push(ctx, addr, fmt.Sprintf("library/live%d", w), fmt.Sprintf("p%d", i), int64(2048+i*512))
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("pusher %d: %v", w, err)
					}
					return
				}
				mu.Lock()
				acks = append(acks, p)
				mu.Unlock()
				n.Add(1)
			}
		})
	}
	// Let the pushers get going, so the backup starts among them.
	for deadline := time.Now().Add(30 * time.Second); n.Load() < pushers && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	started := time.Now()
	fn()
	after := n.Load()
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	var before []pushed
	for _, p := range acks {
		if p.at.Before(started) {
			before = append(before, p)
		}
	}
	t.Logf("%d pushes acknowledged before the backup started, %d by its end, %d in all", len(before), after, len(acks))
	if int(after) == len(before) {
		t.Log("no push was acknowledged during the backup")
	}
	return before
}

// TestBackupRestoreSQLite: a backup of a running berth taking pushes,
// restored into a new data directory, serves every push acknowledged
// before the backup started, and passes fsck; a second backup into the
// same directory copies only the new blobs.
func TestBackupRestoreSQLite(t *testing.T) {
	root := t.TempDir()
	live := filepath.Join(root, "live")
	srv := berthproc.Start(t, live)
	acked := seed(t, srv.Addr, "seed", seedPushes)

	snap := filepath.Join(root, "snap")
	var out string
	acked = append(acked, underPushes(t, srv.Addr, func() {
		start := time.Now()
		out = mustBerth(t, "backup", "--data-dir", live, "--to", snap)
		t.Logf("backup under pushes took %s:\n%s", time.Since(start), out)
	})...)
	first := backupCounts(t, out)
	if first[2] != 0 {
		t.Errorf("first backup skipped %d blobs", first[2])
	}

	// The live deployment is consistent while it runs (the pushers have
	// stopped: this is also the blob count the next backup starts from).
	liveBlobs := fsck(t, "--data-dir", live).Counts.Blobs

	restored := filepath.Join(root, "restored")
	start := time.Now()
	out = mustBerth(t, "restore", "--from", snap, "--data-dir", restored)
	t.Logf("restore took %s: %s", time.Since(start), out)
	rep := fsck(t, "--data-dir", restored)
	if len(rep.Orphans) != 0 {
		t.Errorf("restored directory has orphans: %s", rep.Orphans)
	}
	if rep.Counts.Artifacts < len(acked) {
		t.Errorf("restored %d artifacts, %d pushes were acknowledged before the backup", rep.Counts.Artifacts, len(acked))
	}
	srv2 := berthproc.Start(t, restored)
	pullAll(t, srv2.Addr, acked)
	t.Logf("restored: %d artifacts, %d blobs, %d bytes; all %d pushes acknowledged before the backup pulled and verified",
		rep.Counts.Artifacts, rep.Counts.Blobs, rep.Counts.BlobBytes, len(acked))

	if got := first[0] + first[1]; got != rep.Counts.Blobs {
		t.Errorf("first backup brought %d blobs, the snapshot has %d", got, rep.Counts.Blobs)
	}

	// Incremental: what was pushed after the first snapshot, and 3 more
	// images (6 blobs: config and layer), and nothing else, is copied.
	more := seed(t, srv.Addr, "more", 3)
	want := liveBlobs + 6 - rep.Counts.Blobs
	second := backupCounts(t, mustBerth(t, "backup", "--data-dir", live, "--to", snap, "--no-link"))
	if second[0] != 0 || second[1] != want {
		t.Errorf("second backup brought %d linked and %d copied blobs, want the %d new ones copied (--no-link)", second[0], second[1], want)
	}
	if second[2] != rep.Counts.Blobs {
		t.Errorf("second backup skipped %d blobs, the first snapshot had %d", second[2], rep.Counts.Blobs)
	}
	t.Logf("incremental backup: %d new blobs copied, %d already there", second[1], second[2])
	restored2 := filepath.Join(root, "restored2")
	mustBerth(t, "restore", "--from", snap, "--data-dir", restored2)
	fsck(t, "--data-dir", restored2, "--quick")
	srv3 := berthproc.Start(t, restored2)
	pullAll(t, srv3.Addr, append(acked, more...))
}

// TestRestoreRefuses: a snapshot with a corrupt or missing blob, an
// interrupted backup, and a non-empty target are refused, and nothing is
// written.
func TestRestoreRefuses(t *testing.T) {
	root := t.TempDir()
	live := filepath.Join(root, "live")
	srv := berthproc.Start(t, live)
	seed(t, srv.Addr, "img", 4)
	snap := filepath.Join(root, "snap")
	// Copies, not links: corrupting a linked file would corrupt the live
	// blob too.
	mustBerth(t, "backup", "--data-dir", live, "--to", snap, "--no-link")

	var layer, small string
	_ = filepath.WalkDir(filepath.Join(snap, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, _ := d.Info()
		switch {
		case fi.Size() > 2048 && layer == "":
			layer = p
		case fi.Size() < 2048 && small == "":
			small = p
		}
		return nil
	})
	if layer == "" || small == "" {
		t.Fatal("no blobs in the snapshot")
	}
	b, err := os.ReadFile(layer)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(layer, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(small); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(root, "target")
	code, _, errOut := berth(t, "restore", "--from", snap, "--data-dir", target)
	digestOf := func(p string) string { return "sha256:" + filepath.Base(p) }
	if code == 0 || !strings.Contains(errOut, "snapshot refused: 2 blobs missing or corrupt") ||
		!strings.Contains(errOut, digestOf(layer)+": content does not match its digest") ||
		!strings.Contains(errOut, digestOf(small)+": missing") {
		t.Errorf("restore of a corrupt snapshot: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("refused restore left %s: %v", target, err)
	}
	if _, err := os.Stat(target + ".restoring"); !os.IsNotExist(err) {
		t.Errorf("refused restore left its temporary directory: %v", err)
	}

	// An interrupted backup has no snapshot.json.
	if err := os.Remove(filepath.Join(snap, "snapshot.json")); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := berth(t, "restore", "--from", snap, "--data-dir", target); code == 0 || !strings.Contains(errOut, "interrupted backup") {
		t.Errorf("restore of an interrupted backup: exit %d, %s", code, errOut)
	}

	// A good snapshot into a non-empty directory.
	snap2 := filepath.Join(root, "snap2")
	mustBerth(t, "backup", "--data-dir", live, "--to", snap2)
	if code, _, errOut := berth(t, "restore", "--from", snap2, "--data-dir", live); code == 0 || !strings.Contains(errOut, "is not empty") {
		t.Errorf("restore into a non-empty directory: exit %d, %s", code, errOut)
	}
}

// TestFsckFindsProblems: a blob corrupted, one removed, and a stray file
// in a (stopped) data directory are reported; exit 1.
func TestFsckFindsProblems(t *testing.T) {
	live := filepath.Join(t.TempDir(), "live")
	srv := berthproc.Start(t, live)
	seed(t, srv.Addr, "img", 3)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	var files []string
	_ = filepath.WalkDir(filepath.Join(live, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if len(files) < 2 {
		t.Fatalf("%d blob files", len(files))
	}
	if err := os.WriteFile(files[0], []byte("not the blob"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(files[1]); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(live, "blobs", "sha256", "00", strings.Repeat("0", 64))
	if err := os.MkdirAll(filepath.Dir(orphan), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(orphan, []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := berth(t, "fsck", "--data-dir", live)
	if code != 1 || !strings.Contains(out, "INCONSISTENT: 2 problems") ||
		!strings.Contains(out, "blob_size digest=sha256:"+filepath.Base(files[0])) ||
		!strings.Contains(out, "blob_missing digest=sha256:"+filepath.Base(files[1])) ||
		!strings.Contains(out, "orphan sha256:"+strings.Repeat("0", 64)) {
		t.Errorf("fsck: exit %d\n%s%s", code, out, errOut)
	}
	// --quick sees the same problems from sizes alone.
	if code, out, _ := berth(t, "fsck", "--data-dir", live, "--quick"); code != 1 || !strings.Contains(out, "INCONSISTENT: 2 problems") {
		t.Errorf("fsck --quick: exit %d\n%s", code, out)
	}
}
