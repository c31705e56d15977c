package ha

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

const (
	haWorkers = 8
	haLoadFor = 20 * time.Second // pushes and pulls through nginx
	haKillAt  = 4 * time.Second  // replica 1 gets SIGKILL
	haDownFor = 5 * time.Second  // then is restarted
	haMaxOps  = 5000             // per worker, whatever the time
)

// load is what the workers learned: the acknowledged pushes, and the
// answers the kill does not explain.
type load struct {
	mu      sync.Mutex
	acked   []image
	wrong   []string // wrong answers to pulls of acknowledged images
	refused []refusal
	pulls   atomic.Int64
}

// refusal is a push the registry answered with an error other than 5xx.
type refusal struct {
	at  time.Time
	err error
}

func (l *load) ack(img image) {
	l.mu.Lock()
	l.acked = append(l.acked, img)
	l.mu.Unlock()
}

// pick returns a random acknowledged image.
func (l *load) pick(rnd *rand.Rand) (image, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.acked) == 0 {
		return image{}, false
	}
	return l.acked[rnd.IntN(len(l.acked))], true
}

func (l *load) pushed(err error, at time.Time) {
	if err != nil && !errors.Is(err, errUnavailable) {
		l.mu.Lock()
		l.refused = append(l.refused, refusal{at, err})
		l.mu.Unlock()
	}
}

func (l *load) pulled(err error) {
	switch {
	case err == nil:
		l.pulls.Add(1)
	case !errors.Is(err, errUnavailable):
		l.mu.Lock()
		l.wrong = append(l.wrong, err.Error())
		l.mu.Unlock()
	}
}

// TestHA runs the scenario (runHA) with the replicas' blobs in one S3
// bucket.
func TestHA(t *testing.T) { runHA(t, onS3) }

// TestHASharedDir runs the same scenario with the blobs in one directory
// the replicas share (--blob-dir, as on NFS or CephFS), each replica with
// its own --data-dir; then a replica on an empty directory must refuse
// readiness.
func TestHASharedDir(t *testing.T) { runHA(t, onSharedDir) }

// runHA runs three replicas with access control on one PostgreSQL
// database and one blob store behind nginx. Eight clients push (config,
// 1-2 layers, manifest under a new tag) and pull acknowledged images
// (every digest checked) through nginx for 20s, with one token issued by
// replica 0 alone; 4s in, replica 1 gets SIGKILL and is restarted 5s later.
// A chunked upload is started on replica 0, continued on the restarted
// replica 1 and finished on replica 2. Afterwards every acknowledged push
// must be pullable intact through nginx; failed requests around the kill
// are allowed and reported with the recovery time.
func runHA(t *testing.T, on backend) {
	c := startCluster(t, 3, true, on)
	lb := startNginx(t, freePort(t), c.addrs)
	rec := &recorder{}
	repos := []string{"library/ha/chunked"}
	for w := range haWorkers {
		repos = append(repos, fmt.Sprintf("library/ha/w%d", w))
	}
	var scopes []string
	for _, r := range repos {
		scopes = append(scopes, "repository:"+r+":pull,push")
	}
	token, err := newClient(c.url(0), "", rec).login(scopes...)
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(lb.URL, token, rec)

	l := &load{}
	start := time.Now()
	stopAt := start.Add(haLoadFor)
	var wg sync.WaitGroup
	for w := range haWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for i := 0; i < haMaxOps && time.Now().Before(stopAt); i++ {
				at := time.Now()
				img, err := cl.push(rnd, repos[w+1], fmt.Sprintf("t%d", i))
				l.pushed(err, at)
				if err == nil {
					l.ack(img)
				}
				if img, ok := l.pick(rnd); ok {
					l.pulled(cl.pull(img))
				}
			}
		}()
	}

	// A chunked upload: POST and the first PATCH on replica 0.
	blob := make([]byte, 7<<20)
	for i := range blob {
		blob[i] = byte(i*7 + i>>13)
	}
	up, upErr := startChunked(cl.on(c.url(0)), repos[0], blob[:1<<20])

	time.Sleep(time.Until(start.Add(haKillAt)))
	killedAt := time.Now()
	c.replicas[1].Kill()
	time.Sleep(haDownFor)
	restartAt := time.Now()
	c.start(1)
	listeningAt := time.Now()
	if err := c.waitReady(1, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	readyAt := time.Now()
	recoveredAt, err := servedThrough(cl, c.addrs[1], 15*time.Second)
	if err != nil {
		t.Error(err)
	}

	// The chunked upload goes on on the restarted replica 1 and is
	// finished on replica 2, then pushed as an image and pulled via nginx.
	if upErr == nil {
		upErr = finishChunked(cl, c, up, repos[0], blob)
	}
	if upErr != nil {
		t.Errorf("chunked upload across replicas: %v", upErr)
	}
	wg.Wait()
	loadEnd := time.Now()

	// Every acknowledged push, through nginx, with a fresh recorder.
	vrec := &recorder{}
	vc := newClient(lb.URL, token, vrec)
	lost := 0
	for _, img := range l.acked {
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			if err = vc.pull(img); err == nil || !errors.Is(err, errUnavailable) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			lost++
			t.Errorf("acknowledged push %s:%s (%s) not intact: %v", img.repo, img.tag, img.manifest, err)
		}
	}
	for _, w := range l.wrong {
		t.Errorf("wrong answer to a pull of an acknowledged image: %s", w)
	}
	window := [2]time.Time{killedAt, recoveredAt}
	for _, r := range l.refused {
		if r.at.Before(killedAt.Add(-time.Second)) || r.at.After(recoveredAt) {
			t.Errorf("push refused outside the kill window (at +%s): %v", r.at.Sub(start).Round(time.Millisecond), r.err)
		} else {
			t.Logf("push refused during the kill window (at +%s): %v", r.at.Sub(start).Round(time.Millisecond), r.err)
		}
	}

	f := figuresOf(rec.all(), window, c.addrs)
	t.Logf("load: %d workers for %s, %d pushes acknowledged, %d pulls verified (%d blob GETs fetched from S3 after a 307)",
		haWorkers, loadEnd.Sub(start).Round(time.Millisecond), len(l.acked), l.pulls.Load(), rec.s3Get.Load())
	t.Logf("client requests through nginx and to replicas: %d total, %d failed; nginx retried %d on another replica; per replica: %s",
		f.total, f.failed, f.retried, f.perReplica)
	t.Logf("kill window (SIGKILL at +%s to recovery at +%s, %s): %d requests, %d failed",
		killedAt.Sub(start).Round(time.Millisecond), recoveredAt.Sub(start).Round(time.Millisecond),
		recoveredAt.Sub(killedAt).Round(time.Millisecond), f.inWindow, f.failedInWindow)
	for i, e := range f.failures {
		if i == 20 {
			t.Logf("  … and %d more", len(f.failures)-i)
			break
		}
		t.Logf("  failed: %s", firstLine(e))
	}
	t.Logf("recovery after restart: listening %s, /readyz 200 %s, serving through nginx %s",
		listeningAt.Sub(restartAt).Round(time.Millisecond), readyAt.Sub(restartAt).Round(time.Millisecond),
		recoveredAt.Sub(restartAt).Round(time.Millisecond))
	t.Logf("verification: %d acknowledged pushes pulled through nginx in %d requests (%d failed), %d lost",
		len(l.acked), len(vrec.all()), countFailed(vrec.all()), lost)
	if on == onSharedDir {
		refusesEmptyDir(t, c)
	}
	t.Logf("HA summary (%s): requests=%d in_kill_window=%d failed=%d failed_in_kill_window=%d recovery=%s acked_pushes=%d lost=%d",
		on, f.total, f.inWindow, f.failed, f.failedInWindow, recoveredAt.Sub(restartAt).Round(time.Millisecond), len(l.acked), lost)
}

// servedThrough sends GET /v2/ through nginx until replica addr answers
// one (bounded by d) and returns when it did.
func servedThrough(cl *client, addr string, d time.Duration) (time.Time, error) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		res, _, err := cl.do("GET", "/v2/", nil, http.StatusOK)
		if err == nil && res.Header.Get("X-Upstream") == addr {
			return time.Now(), nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Now(), fmt.Errorf("replica %s served no request through nginx within %s", addr, d)
}

// startChunked starts an upload on cl's replica and sends the first chunk.
func startChunked(cl *client, repo string, first []byte) (string, error) {
	res, _, err := cl.do("POST", "/v2/"+repo+"/blobs/uploads/", nil, http.StatusAccepted)
	if err != nil {
		return "", err
	}
	res, _, err = cl.do("PATCH", res.Header.Get("Location"), first, http.StatusAccepted,
		"Content-Type", "application/octet-stream", "Content-Range", fmt.Sprintf("0-%d", len(first)-1))
	if err != nil {
		return "", err
	}
	return res.Header.Get("Location"), nil
}

// finishChunked sends the second chunk of blob (5 MiB and a bit, over
// S3's smallest part) to replica 1 and the rest in the PUT to replica 2,
// then pushes an image of it through nginx and pulls it back.
func finishChunked(cl *client, c *cluster, loc, repo string, blob []byte) error {
	off, n := 1<<20, 5<<20+7
	res, _, err := cl.on(c.url(1)).do("PATCH", loc, blob[off:off+n], http.StatusAccepted,
		"Content-Type", "application/octet-stream", "Content-Range", fmt.Sprintf("%d-%d", off, off+n-1))
	if err != nil {
		return err
	}
	if got, want := res.Header.Get("Range"), fmt.Sprintf("0-%d", off+n-1); got != want {
		return fmt.Errorf("PATCH on replica 1: Range %q, want %q", got, want)
	}
	d := digest.FromBytes(blob)
	res, _, err = cl.on(c.url(2)).do("PUT", withDigest(res.Header.Get("Location"), d), blob[off+n:], http.StatusCreated,
		"Content-Type", "application/octet-stream")
	if err != nil {
		return err
	}
	if got := res.Header.Get("Docker-Content-Digest"); got != d.String() {
		return fmt.Errorf("PUT on replica 2: Docker-Content-Digest %q, want %s", got, d)
	}
	config, _ := newBlobs(rand.New(rand.NewPCG(1, 2)), "across-replicas")
	if err := cl.uploadMonolithic(repo, config); err != nil {
		return err
	}
	img, err := cl.putManifest(repo, "across-replicas", config, [][]byte{blob})
	if err != nil {
		return err
	}
	return cl.pull(img)
}

// figures are the load's request counts.
type figures struct {
	total, failed, retried   int
	inWindow, failedInWindow int
	perReplica               string
	failures                 []string
}

func figuresOf(recs []record, window [2]time.Time, addrs []string) figures {
	var f figures
	per := map[string]int{}
	for _, r := range recs {
		f.total++
		in := !r.end.Before(window[0]) && !r.start.After(window[1])
		if in {
			f.inWindow++
		}
		if strings.Contains(r.upstream, ",") {
			f.retried++
		}
		if ups := strings.Split(r.upstream, ", "); r.upstream != "" {
			per[ups[len(ups)-1]]++
		}
		if r.failed {
			f.failed++
			if in {
				f.failedInWindow++
			}
			f.failures = append(f.failures, fmt.Sprintf("%s (%s via %q) %s", r.op, r.start.Format("15:04:05.000"), r.upstream, r.err))
		}
	}
	var parts []string
	for i, a := range addrs {
		parts = append(parts, fmt.Sprintf("replica %d %d", i, per[a]))
	}
	sort.Strings(parts)
	f.perReplica = strings.Join(parts, ", ")
	return f
}

func countFailed(recs []record) int {
	n := 0
	for _, r := range recs {
		if r.failed {
			n++
		}
	}
	return n
}

// firstLine cuts nginx's HTML error pages short.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
