package crash

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	_ "modernc.org/sqlite" // read-only look at meta.db

	"github.com/berth-registry/berth/test/berthproc"
)

const (
	numPushers         = 8
	maxPushesPerRound  = 200 // per pusher; the kill comes long before
	minKillDelay       = 50 * time.Millisecond
	maxKillDelay       = 400 * time.Millisecond
	maxBlobSize        = 2 << 20
	verifyParallelism  = 4
	pushersStopTimeout = 60 * time.Second
	firstAckTimeout    = 30 * time.Second
)

type blobDesc struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
}

type imageManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Config        blobDesc          `json:"config"`
	Layers        []blobDesc        `json:"layers"`
	Annotations   map[string]string `json:"annotations"`
}

// tagRec is one tag a push set or tried to set; acked means the PUT that
// set it returned 201.
type tagRec struct {
	name  string
	acked bool
}

// push is one image a pusher tried to push. Its tags are unique to it.
type push struct {
	round, worker, seq int
	repo               string
	blobs              []blobDesc // config first, then layers
	manifest           []byte
	digest             digest.Digest
	tags               []tagRec // the path tag, ?tag= extras, a later alias
	acked              bool     // the manifest PUT returned 201
}

// latestMove is one attempt to point a pusher's moving tag at a manifest.
type latestMove struct {
	digest digest.Digest
	acked  bool
}

type blobAck struct {
	repo string
	desc blobDesc
}

// interrupted is a chunked upload the kill cut short, to be resumed.
type interrupted struct {
	repo string
	data []byte
	desc blobDesc
	s    *session
}

// ledger is everything pushed (or attempted) over all rounds.
type ledger struct {
	mu       sync.Mutex
	pushes   []*push
	blobAcks []blobAck
	latest   [numPushers][]latestMove
	cut      []interrupted // this round's interrupted chunked uploads
}

func (l *ledger) addInterrupted(u interrupted) {
	l.mu.Lock()
	l.cut = append(l.cut, u)
	l.mu.Unlock()
}

func (l *ledger) addPush(p *push) {
	l.mu.Lock()
	l.pushes = append(l.pushes, p)
	l.mu.Unlock()
}

func (l *ledger) ackBlob(repo string, d blobDesc) {
	l.mu.Lock()
	l.blobAcks = append(l.blobAcks, blobAck{repo, d})
	l.mu.Unlock()
}

func (l *ledger) moveLatest(worker int, d digest.Digest) (ack func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := len(l.latest[worker])
	l.latest[worker] = append(l.latest[worker], latestMove{digest: d})
	return func() {
		l.mu.Lock()
		l.latest[worker][i].acked = true
		l.mu.Unlock()
	}
}

func homeRepo(worker int) string  { return fmt.Sprintf("crash/repo%d", worker%4) }
func latestTag(worker int) string { return fmt.Sprintf("latest-w%d", worker) }

func envInt(t *testing.T, name string, def int64) int64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// pusher pushes images until stop is closed or a request fails (which,
// once the server is killed, they all do).
type pusher struct {
	t      *testing.T
	c      *http.Client
	base   string
	round  int
	worker int
	src    *rand.ChaCha8
	rng    *rand.Rand
	led    *ledger
	killed *atomic.Bool
	acked  func() // called on each acknowledged manifest

	attempted int
}

func (p *pusher) run(stop <-chan struct{}) {
	for seq := 0; seq < maxPushesPerRound; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		p.attempted++
		if err := p.pushOne(seq); err != nil {
			// A transport error is what a kill looks like; before the kill,
			// or as a status code, it is a bug.
			if isStatusError(err) || !p.killed.Load() {
				p.t.Errorf("round %d pusher %d: %v", p.round, p.worker, err)
			}
			return
		}
	}
}

func (p *pusher) randSize() int {
	switch p.rng.IntN(10) {
	case 0:
		return 0
	case 1, 2, 3:
		return 1 + p.rng.IntN(4<<10)
	case 4, 5, 6:
		return 4<<10 + p.rng.IntN(256<<10)
	default:
		return 256<<10 + p.rng.IntN(maxBlobSize-256<<10+1)
	}
}

func (p *pusher) randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = p.src.Read(b)
	return b
}

// newImage builds an image in memory: config, 1-3 layers, manifest.
func (p *pusher) newImage(seq int) (*push, [][]byte) {
	tag := fmt.Sprintf("r%d-w%d-%d", p.round, p.worker, seq)
	var contents [][]byte
	var layers []blobDesc
	var diffIDs []digest.Digest
	for range 1 + p.rng.IntN(3) {
		b := p.randBytes(p.randSize())
		d := digest.FromBytes(b)
		contents = append(contents, b)
		layers = append(layers, blobDesc{MediaType: mtLayer, Digest: d, Size: int64(len(b))})
		diffIDs = append(diffIDs, d)
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
		"nonce":  hex.EncodeToString(p.randBytes(16)),
	})
	cfgDesc := blobDesc{MediaType: mtConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	m, _ := json.Marshal(imageManifest{
		SchemaVersion: 2, MediaType: mtManifest, Config: cfgDesc, Layers: layers,
		Annotations: map[string]string{"org.example.crash.tag": tag},
	})
	ps := &push{
		round: p.round, worker: p.worker, seq: seq, repo: homeRepo(p.worker),
		blobs:    append([]blobDesc{cfgDesc}, layers...),
		manifest: m, digest: digest.FromBytes(m),
		tags: []tagRec{{name: tag}},
	}
	return ps, append([][]byte{cfg}, contents...)
}

func (p *pusher) pushOne(seq int) error {
	ps, contents := p.newImage(seq)
	p.led.addPush(ps)
	for i, b := range contents {
		d := ps.blobs[i]
		var err error
		if p.rng.IntN(5) < 2 {
			err = pushMonolithic(p.c, p.base, ps.repo, b, d.Digest)
		} else {
			style := chunkStyle(p.rng.IntN(int(numChunkStyles)))
			s := &session{}
			err = pushChunked(p.c, p.base, ps.repo, b, d.Digest, style, func() int { return 16<<10 + p.rng.IntN(752<<10) }, s)
			// Resume it after the restart. (A 1-byte blob is left out: its
			// offset after the restart, 0 or 1, reads "0-0" either way.)
			if err != nil && !isStatusError(err) && s.location != "" && len(b) != 1 {
				p.led.addInterrupted(interrupted{repo: ps.repo, data: b, desc: d, s: s})
			}
		}
		if err != nil {
			return err
		}
		p.led.ackBlob(ps.repo, d)
	}
	var extra []string
	if p.rng.IntN(4) == 0 {
		extra = []string{ps.tags[0].name + "-x"}
		ps.tags = append(ps.tags, tagRec{name: extra[0]})
	}
	if err := putManifest(p.c, p.base, ps.repo, ps.tags[0].name, ps.manifest, ps.digest, extra...); err != nil {
		return err
	}
	ps.acked = true
	p.acked()
	for i := range ps.tags {
		ps.tags[i].acked = true
	}
	switch p.rng.IntN(3) {
	case 0: // re-tag: the same manifest PUT under a second tag
		ps.tags = append(ps.tags, tagRec{name: ps.tags[0].name + "-alias"})
		i := len(ps.tags) - 1
		if err := putManifest(p.c, p.base, ps.repo, ps.tags[i].name, ps.manifest, ps.digest); err != nil {
			return err
		}
		ps.tags[i].acked = true
	case 1: // move this pusher's moving tag, by digest with ?tag=
		ack := p.led.moveLatest(p.worker, ps.digest)
		if err := putManifest(p.c, p.base, ps.repo, string(ps.digest), ps.manifest, ps.digest, latestTag(p.worker)); err != nil {
			return err
		}
		ack()
	}
	return nil
}

// TestCrashSafety pushes images from concurrent clients, SIGKILLs the
// server mid-push, restarts it on the same data directory and checks that
// every acknowledged push survived intact and nothing partial is visible.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	rounds := int(envInt(t, "BERTH_CRASH_ROUNDS", 5))
	seed := uint64(envInt(t, "BERTH_CRASH_SEED", time.Now().UnixNano()))
	t.Logf("rounds=%d seed=%d (set BERTH_CRASH_SEED to replay the same choices)", rounds, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	start := time.Now()

	dir := t.TempDir()
	led := &ledger{}
	srv := berthproc.Start(t, dir, "--access-log=false")
	var last verifyStats
	var totalAttempted, totalSwept, totalResumed, totalComplete int
	for round := 1; round <= rounds; round++ {
		c := newClient()
		var killed atomic.Bool
		firstAck := make(chan struct{})
		var once sync.Once
		acked := func() { once.Do(func() { close(firstAck) }) }
		stop := make(chan struct{})
		pushers := make([]*pusher, numPushers)
		var wg sync.WaitGroup
		for w := range pushers {
			var key [32]byte
			binary.LittleEndian.PutUint64(key[:], seed)
			binary.LittleEndian.PutUint64(key[8:], uint64(round))
			binary.LittleEndian.PutUint64(key[16:], uint64(w))
			src := rand.NewChaCha8(key)
			pushers[w] = &pusher{t: t, c: c, base: srv.URL, round: round, worker: w,
				src: src, rng: rand.New(src), led: led, killed: &killed, acked: acked}
			wg.Add(1)
			go func() {
				defer wg.Done()
				pushers[w].run(stop)
			}()
		}
		// The kill comes a random delay after the round's first acknowledged
		// push, so that every round has something to verify even on a slow
		// machine; by then the pushers are out of step, mid-way through
		// different requests.
		kill := func() {
			killed.Store(true)
			srv.Kill()
			close(stop)
			waitGroup(t, &wg, pushersStopTimeout, "pushers to stop after the kill")
			c.CloseIdleConnections()
		}
		select {
		case <-firstAck:
		case <-time.After(firstAckTimeout):
			kill()
			t.Fatalf("round %d: no push acknowledged within %v", round, firstAckTimeout)
		}
		delay := minKillDelay + time.Duration(rng.Int64N(int64(maxKillDelay-minKillDelay)))
		time.Sleep(delay)
		kill()
		if srv.ExitCode() != -1 || !srv.Cmd.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
			t.Fatalf("round %d: berth was not killed by the signal: %v", round, srv.WaitErr())
		}

		srv = berthproc.Start(t, dir, "--access-log=false")
		ds := checkDataDir(t, dir)
		attempted := 0
		for _, p := range pushers {
			attempted += p.attempted
		}
		roundAcked := 0
		for _, p := range led.pushes {
			if p.round == round && p.acked {
				roundAcked++
			}
		}
		last = verifyAll(t, newClient(), srv.URL, led)
		resumed, complete := resumeAll(t, newClient(), srv.URL, dir, led)
		totalAttempted += attempted
		totalSwept += sweptUploads(srv)
		totalResumed += resumed
		totalComplete += complete
		t.Logf("round %d: killed %v after the first acknowledgement; pushes attempted %d, acknowledged %d; verified %d/%d acknowledged pushes of all rounds "+
			"(%d blobs, %d tags); unacknowledged tags: %d absent, %d complete; upload sessions %d, upload files %d (orphans swept: %d); "+
			"interrupted chunked uploads: %d resumed, %d already complete",
			round, delay.Round(time.Millisecond), attempted, roundAcked, last.verifiedPushes, last.ackedPushes,
			last.blobs, last.tags, last.unackedAbsent, last.unackedComplete, ds.sessions, ds.uploadFiles, sweptUploads(srv),
			resumed, complete)
		if t.Failed() {
			t.Fatalf("round %d failed (seed %d)", round, seed)
		}
	}

	// A last clean stop, then every committed blob file must hash to its name.
	srv.Signal(syscall.SIGTERM)
	if !srv.Wait(15 * time.Second) {
		t.Fatal("berth did not stop within 15s of SIGTERM")
	}
	if code := srv.ExitCode(); code != 0 {
		t.Fatalf("berth exited with %d after SIGTERM\n%s", code, srv.Logs())
	}
	files, stored := checkBlobFiles(t, dir)
	t.Logf("summary: %d rounds in %v; %d pushes attempted, %d acknowledged, %d verified after the last restart "+
		"(%d unacknowledged tags found complete); %d orphan upload files swept at restarts; interrupted chunked uploads: "+
		"%d resumed, %d found complete; %d blob files (%.1f MiB) all hash to their names",
		rounds, time.Since(start).Round(time.Millisecond), totalAttempted, last.ackedPushes, last.verifiedPushes,
		last.unackedComplete, totalSwept, totalResumed, totalComplete, files, float64(stored)/(1<<20))
	if last.ackedPushes == 0 {
		t.Error("no push was acknowledged in any round: the test proved nothing")
	}
}

// resumeAll finishes the chunked uploads the last kill interrupted, from
// the offsets the restarted server reports; a finished one counts as an
// acknowledged blob from then on.
func resumeAll(t *testing.T, c *http.Client, base, dir string, led *ledger) (resumed, complete int) {
	t.Helper()
	defer c.CloseIdleConnections()
	for _, u := range led.cut {
		outcome, err := resumeChunked(c, base, u.repo, u.data, u.desc.Digest, u.s)
		if err != nil {
			t.Errorf("resuming the interrupted upload of %s@%s (%d bytes, %d acknowledged): %v\n%s",
				u.repo, u.desc.Digest, len(u.data), u.s.acked, err, storageState(dir, u.desc.Digest, u.s.location))
			continue
		}
		if outcome == resumedUpload {
			resumed++
		} else {
			complete++
		}
		led.ackBlob(u.repo, u.desc)
	}
	led.cut = nil
	return resumed, complete
}

// storageState describes what the data directory holds for a blob and an
// upload session, for failure messages.
func storageState(dir string, d digest.Digest, sessionLocation string) string {
	describe := func(p string) string {
		fi, err := os.Stat(p)
		if err != nil {
			return "absent"
		}
		return fmt.Sprintf("%d bytes", fi.Size())
	}
	blob := filepath.Join(dir, "blobs", string(d.Algorithm()), d.Encoded()[:2], d.Encoded())
	upload := filepath.Join(dir, "uploads", path.Base(sessionLocation))
	return fmt.Sprintf("storage: blob file %s; upload file %s", describe(blob), describe(upload))
}

// sweptUploads is the count of the startup sweep's log line, if any.
func sweptUploads(b *berthproc.Server) int {
	l, _ := b.Find("removed abandoned uploads")
	return l.Count
}

func waitGroup(t *testing.T, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

type verifyStats struct {
	ackedPushes, verifiedPushes    int
	blobs, tags                    int
	unackedAbsent, unackedComplete int
}

type manifestResult struct {
	body  []byte
	d     digest.Digest
	found bool
	err   error
}

// parallel runs the jobs with bounded parallelism.
func parallel(jobs []func()) {
	sem := make(chan struct{}, verifyParallelism)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			j()
		}()
	}
	wg.Wait()
}

// verifyAll checks every push of every round against the running server.
func verifyAll(t *testing.T, c *http.Client, base string, led *ledger) verifyStats {
	t.Helper()
	defer c.CloseIdleConnections()
	var st verifyStats

	// Phase 1: every tag ever attempted, and every acknowledged manifest by
	// digest.
	type mkey struct{ repo, ref string }
	manifests := map[mkey]*manifestResult{}
	want := func(repo, ref string) {
		if manifests[mkey{repo, ref}] == nil {
			manifests[mkey{repo, ref}] = &manifestResult{}
		}
	}
	for _, p := range led.pushes {
		for _, tg := range p.tags {
			want(p.repo, tg.name)
		}
		if p.acked {
			want(p.repo, string(p.digest))
		}
	}
	for w := range numPushers {
		want(homeRepo(w), latestTag(w))
	}
	var jobs []func()
	for k, r := range manifests {
		jobs = append(jobs, func() { r.body, r.d, r.found, r.err = getManifest(c, base, k.repo, k.ref) })
	}
	parallel(jobs)
	for k, r := range manifests {
		if r.err != nil {
			t.Errorf("%s:%s: %v", k.repo, k.ref, r.err)
		}
	}

	// Phase 2: every blob that must be pullable.
	type bkey struct {
		repo string
		d    digest.Digest
	}
	blobs := map[bkey]int64{}
	for _, a := range led.blobAcks {
		blobs[bkey{a.repo, a.desc.Digest}] = a.desc.Size
	}
	for _, p := range led.pushes {
		present := p.acked
		for _, tg := range p.tags {
			present = present || manifests[mkey{p.repo, tg.name}].found
		}
		if present {
			for _, b := range p.blobs {
				blobs[bkey{p.repo, b.Digest}] = b.Size
			}
		}
	}
	blobErrs := map[bkey]error{}
	var mu sync.Mutex
	jobs = jobs[:0]
	for k, size := range blobs {
		jobs = append(jobs, func() {
			err := verifyBlob(c, base, k.repo, k.d, size)
			mu.Lock()
			blobErrs[k] = err
			mu.Unlock()
		})
	}
	parallel(jobs)
	for _, a := range led.blobAcks {
		if err := blobErrs[bkey{a.repo, a.desc.Digest}]; err != nil {
			t.Errorf("acknowledged blob: %v", err)
		}
	}
	st.blobs = len(blobs)

	// Phase 3: judge each push.
	sameManifest := func(p *push, r *manifestResult) error {
		switch {
		case r.d != p.digest:
			return fmt.Errorf("resolves to %s, pushed %s", r.d, p.digest)
		case digest.FromBytes(r.body) != p.digest:
			return fmt.Errorf("body hashes to %s, not %s", digest.FromBytes(r.body), p.digest)
		case !bytes.Equal(r.body, p.manifest):
			return fmt.Errorf("body differs from the pushed manifest")
		}
		for _, b := range p.blobs {
			if err := blobErrs[bkey{p.repo, b.Digest}]; err != nil {
				return fmt.Errorf("references a blob that does not verify: %v", err)
			}
		}
		return nil
	}
	tagLists := map[string]map[string]bool{}
	for w := range numPushers {
		repo := homeRepo(w)
		if tagLists[repo] != nil {
			continue
		}
		tags, err := listTags(c, base, repo)
		if err != nil {
			t.Error(err)
			tags = map[string]bool{}
		}
		tagLists[repo] = tags
	}
	known := map[mkey]bool{}
	for w := range numPushers {
		known[mkey{homeRepo(w), latestTag(w)}] = true
	}
	for _, p := range led.pushes {
		ok := true
		if p.acked {
			st.ackedPushes++
			r := manifests[mkey{p.repo, string(p.digest)}]
			if !r.found {
				t.Errorf("acknowledged manifest %s@%s is gone", p.repo, p.digest)
				ok = false
			} else if err := sameManifest(p, r); err != nil {
				t.Errorf("acknowledged manifest %s@%s: %v", p.repo, p.digest, err)
				ok = false
			}
		}
		for _, tg := range p.tags {
			known[mkey{p.repo, tg.name}] = true
			r := manifests[mkey{p.repo, tg.name}]
			switch {
			case tg.acked && !r.found:
				t.Errorf("acknowledged tag %s:%s (round %d) is gone", p.repo, tg.name, p.round)
				ok = false
			case tg.acked:
				st.tags++
				if err := sameManifest(p, r); err != nil {
					t.Errorf("acknowledged tag %s:%s (round %d): %v", p.repo, tg.name, p.round, err)
					ok = false
				}
				if !tagLists[p.repo][tg.name] {
					t.Errorf("acknowledged tag %s:%s missing from the tag list", p.repo, tg.name)
					ok = false
				}
			case !r.found:
				st.unackedAbsent++
			default:
				// Committed but never acknowledged (the kill beat the
				// response): it must then be complete.
				if err := sameManifest(p, r); err != nil {
					t.Errorf("partial state: unacknowledged tag %s:%s (round %d) %v", p.repo, tg.name, p.round, err)
				} else {
					st.unackedComplete++
				}
			}
		}
		if p.acked && ok {
			st.verifiedPushes++
		}
	}
	for repo, tags := range tagLists {
		for tg := range tags {
			if !known[mkey{repo, tg}] {
				t.Errorf("tag list of %s holds %q, which no client pushed", repo, tg)
			}
		}
	}

	// The moving tags: each must point at the last acknowledged move or at
	// a move attempted after it (whose response the kill swallowed).
	for w := range numPushers {
		moves := led.latest[w]
		lastAcked := -1
		for i, m := range moves {
			if m.acked {
				lastAcked = i
			}
		}
		r := manifests[mkey{homeRepo(w), latestTag(w)}]
		if !r.found {
			if lastAcked >= 0 {
				t.Errorf("%s:%s is gone; last acknowledged move was to %s", homeRepo(w), latestTag(w), moves[lastAcked].digest)
			}
			continue
		}
		allowed := false
		for _, m := range moves[max(lastAcked, 0):] {
			allowed = allowed || m.digest == r.d
		}
		if !allowed {
			t.Errorf("%s:%s points at %s: not the last acknowledged move nor a later attempt", homeRepo(w), latestTag(w), r.d)
		}
		if digest.FromBytes(r.body) != r.d {
			t.Errorf("%s:%s: body does not hash to %s", homeRepo(w), latestTag(w), r.d)
		}
	}
	return st
}

type dataDirStats struct{ sessions, uploadFiles int }

// checkDataDir looks at the data directory of a freshly restarted, idle
// server: upload files only of live sessions (the startup sweep removed
// those of monolithic uploads the crash cut short), and every blob row of
// the database backed by a blob file of the recorded size.
func checkDataDir(t *testing.T, dir string) dataDirStats {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: filepath.Join(dir, "meta.db")}).EscapedPath()+
		"?mode=ro&_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sessions := map[string]bool{}
	rows, err := db.Query(`SELECT id FROM uploads`)
	if err != nil {
		t.Fatalf("reading uploads table: %v", err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		sessions[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()

	entries, err := os.ReadDir(filepath.Join(dir, "uploads"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !sessions[e.Name()] {
			t.Errorf("uploads/%s survived the restart but belongs to no upload session", e.Name())
		}
	}

	rows, err = db.Query(`SELECT digest, size FROM blobs`)
	if err != nil {
		t.Fatalf("reading blobs table: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ds string
		var size int64
		if err := rows.Scan(&ds, &size); err != nil {
			t.Fatal(err)
		}
		d, err := digest.Parse(ds)
		if err != nil {
			t.Errorf("blobs row %q: %v", ds, err)
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, "blobs", string(d.Algorithm()), d.Encoded()[:2], d.Encoded()))
		switch {
		case err != nil:
			t.Errorf("blob %s is in the database but not in storage: %v", d, err)
		case fi.Size() != size:
			t.Errorf("blob %s: database says %d bytes, storage holds %d", d, size, fi.Size())
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return dataDirStats{sessions: len(sessions), uploadFiles: len(entries)}
}

// checkBlobFiles hashes every file under blobs/: each must be complete,
// i.e. hash to its own name.
func checkBlobFiles(t *testing.T, dir string) (files int, total int64) {
	t.Helper()
	root := filepath.Join(dir, "blobs")
	var names []string
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			names = append(names, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	for _, path := range names {
		rel, _ := filepath.Rel(root, path)
		alg, hexName := filepath.Dir(filepath.Dir(rel)), filepath.Base(rel)
		if alg != "sha256" || filepath.Base(filepath.Dir(rel)) != hexName[:min(2, len(hexName))] {
			t.Errorf("unexpected file blobs/%s", rel)
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != hexName {
			t.Errorf("blobs/%s holds %d bytes hashing to %s: partial or corrupt", rel, n, got)
		}
		files++
		total += n
	}
	return files, total
}
