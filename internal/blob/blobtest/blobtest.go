// Package blobtest is the conformance suite every blob.Store implementation
// runs (as distribution's storage/driver/testsuites is for storage drivers):
//
//	func TestSuite(t *testing.T) { blobtest.Run(t, openMyStore) }
//
// Beyond the comments on blob.Store it pins down that bad upload ids and
// digests are refused before any lookup: with blob.ErrInvalidID for ids,
// and with an error other than blob.ErrNotFound for digests.
package blobtest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
)

// Run runs every sub-test on a fresh, empty store from open.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"AppendCreates", testAppendCreates},
		{"AppendContinues", testAppendContinues},
		{"AppendTruncates", testAppendTruncates},
		{"AppendBeyondEnd", testAppendBeyondEnd},
		{"Commit", testCommit},
		{"CommitExisting", testCommitExisting},
		{"CommitWrongSize", testCommitWrongSize},
		{"CommitRetried", testCommitRetried},
		{"CommitConcurrentSameDigest", testCommitConcurrent},
		{"Abort", testAbort},
		{"Uploads", testUploads},
		{"InvalidUploadIDs", testInvalidIDs},
		{"InvalidDigests", testInvalidDigests},
		{"Delete", testDelete},
		{"OpenSeek", testOpenSeek},
		{"EmptyBlob", testEmptyBlob},
		{"LargeBlob", testLargeBlob},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// ---- helpers ----

func must(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

func wantErr(t *testing.T, err, target error, what string, args ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", fmt.Sprintf(what, args...), err, target)
	}
}

// write appends data to upload id at offset and closes the writer.
func write(t *testing.T, s blob.Store, id string, offset int64, data string) {
	t.Helper()
	w, err := s.Append(t.Context(), id, offset)
	must(t, err, "Append(%s, %d)", id, offset)
	if n, err := io.WriteString(w, data); err != nil || n != len(data) {
		w.Abandon()
		t.Fatalf("Write = %d, %v; want %d", n, err, len(data))
	}
	must(t, w.Close(), "Close after Append(%s, %d)", id, offset)
}

func readAll(t *testing.T, rc io.ReadCloser, err error, what string) string {
	t.Helper()
	must(t, err, "%s", what)
	b, err := io.ReadAll(rc)
	must(t, err, "reading %s", what)
	must(t, rc.Close(), "closing %s", what)
	return string(b)
}

func upload(t *testing.T, s blob.Store, id, want string) {
	t.Helper()
	rc, err := s.ReadUpload(t.Context(), id)
	if got := readAll(t, rc, err, "ReadUpload("+id+")"); got != want {
		t.Fatalf("upload %s holds %q, want %q", id, got, want)
	}
}

func noUpload(t *testing.T, s blob.Store, id string) {
	t.Helper()
	rc, err := s.ReadUpload(t.Context(), id)
	if err == nil {
		rc.Close()
	}
	wantErr(t, err, blob.ErrNotFound, "ReadUpload(%s)", id)
	if slices.Contains(uploadIDs(t, s), id) {
		t.Fatalf("Uploads lists %s", id)
	}
}

func uploadIDs(t *testing.T, s blob.Store) []string {
	t.Helper()
	us, err := s.Uploads(t.Context())
	must(t, err, "Uploads")
	ids := []string{}
	for _, u := range us {
		ids = append(ids, u.ID)
	}
	slices.Sort(ids)
	return ids
}

// commit stores data as a blob through a new upload and returns its digest.
func commit(t *testing.T, s blob.Store, data string) digest.Digest {
	t.Helper()
	id := blob.NewUploadID()
	write(t, s, id, 0, data)
	d := digest.FromString(data)
	must(t, s.Commit(t.Context(), id, d, int64(len(data))), "Commit(%s)", d)
	return d
}

// checkBlob asserts blob d holds exactly want, through Stat and Open.
func checkBlob(t *testing.T, s blob.Store, d digest.Digest, want string) {
	t.Helper()
	size, err := s.Stat(t.Context(), d)
	must(t, err, "Stat(%s)", d)
	if size != int64(len(want)) {
		t.Fatalf("Stat(%s) = %d, want %d", d, size, len(want))
	}
	rc, err := s.Open(t.Context(), d)
	if got := readAll(t, rc, err, "Open("+string(d)+")"); got != want {
		t.Fatalf("blob %s holds %q, want %q", d, got, want)
	}
}

func noBlob(t *testing.T, s blob.Store, d digest.Digest) {
	t.Helper()
	_, err := s.Stat(t.Context(), d)
	wantErr(t, err, blob.ErrNotFound, "Stat(%s)", d)
	rc, err := s.Open(t.Context(), d)
	if err == nil {
		rc.Close()
	}
	wantErr(t, err, blob.ErrNotFound, "Open(%s)", d)
}

// ---- uploads ----

func testAppendCreates(t *testing.T, s blob.Store) {
	id := blob.NewUploadID()
	noUpload(t, s, id)
	write(t, s, id, 0, "hello")
	upload(t, s, id, "hello")
	if ids := uploadIDs(t, s); !slices.Equal(ids, []string{id}) {
		t.Fatalf("Uploads = %q, want [%s]", ids, id)
	}
	// Appending at 0 again starts over.
	write(t, s, id, 0, "bye")
	upload(t, s, id, "bye")
}

func testAppendContinues(t *testing.T, s blob.Store) {
	id := blob.NewUploadID()
	write(t, s, id, 0, "hello")
	write(t, s, id, 5, " world")
	write(t, s, id, 11, "")
	write(t, s, id, 11, "!")
	upload(t, s, id, "hello world!")

	// Several writes through one writer.
	w, err := s.Append(t.Context(), id, 12)
	must(t, err, "Append")
	for _, p := range []string{"a", "bc", "def"} {
		if _, err := io.WriteString(w, p); err != nil {
			t.Fatal(err)
		}
	}
	must(t, w.Close(), "Close")
	upload(t, s, id, "hello world!abcdef")
}

func testAppendTruncates(t *testing.T, s blob.Store) {
	id := blob.NewUploadID()
	write(t, s, id, 0, "hello world")
	// A request that wrote bytes and then died without recording progress.
	w, err := s.Append(t.Context(), id, 11)
	must(t, err, "Append")
	if _, err := io.WriteString(w, " and garbage"); err != nil {
		t.Fatal(err)
	}
	w.Abandon()
	write(t, s, id, 11, "!")
	upload(t, s, id, "hello world!")

	write(t, s, id, 5, "")
	upload(t, s, id, "hello")
	write(t, s, id, 2, "LP")
	upload(t, s, id, "heLP")
}

func testAppendBeyondEnd(t *testing.T, s blob.Store) {
	ctx := t.Context()
	id := blob.NewUploadID()
	write(t, s, id, 0, "hello world")
	for _, off := range []int64{12, 100, 1 << 40} {
		w, err := s.Append(ctx, id, off)
		if err == nil {
			w.Abandon()
			t.Fatalf("Append(%d) past the %d stored bytes succeeded", off, 11)
		}
	}
	upload(t, s, id, "hello world")

	// Only offset 0 creates an upload.
	missing := blob.NewUploadID()
	w, err := s.Append(ctx, missing, 5)
	if err == nil {
		w.Abandon()
	}
	wantErr(t, err, blob.ErrNotFound, "Append(5) to a missing upload")
	noUpload(t, s, missing)
}

func testCommit(t *testing.T, s blob.Store) {
	ctx := t.Context()
	id := blob.NewUploadID()
	data := "some blob content"
	write(t, s, id, 0, data[:4])
	write(t, s, id, 4, data[4:])
	d := digest.FromString(data)
	noBlob(t, s, d)
	must(t, s.Commit(ctx, id, d, int64(len(data))), "Commit")
	checkBlob(t, s, d, data)
	noUpload(t, s, id)

	// sha512 digests.
	id = blob.NewUploadID()
	write(t, s, id, 0, data)
	d512 := digest.SHA512.FromString(data)
	must(t, s.Commit(ctx, id, d512, int64(len(data))), "Commit sha512")
	checkBlob(t, s, d512, data)
	checkBlob(t, s, d, data)

	// A missing upload of a digest not stored.
	other := digest.FromString("other")
	wantErr(t, s.Commit(ctx, blob.NewUploadID(), other, 5), blob.ErrNotFound, "Commit of a missing upload")
	noBlob(t, s, other)
}

func testCommitExisting(t *testing.T, s blob.Store) {
	data := "identical bytes"
	d := commit(t, s, data)
	id := blob.NewUploadID()
	write(t, s, id, 0, data)
	must(t, s.Commit(t.Context(), id, d, int64(len(data))), "Commit of an existing digest")
	noUpload(t, s, id)
	checkBlob(t, s, d, data)
	if ids := uploadIDs(t, s); len(ids) != 0 {
		t.Fatalf("Uploads = %q after committing everything", ids)
	}
}

func testCommitWrongSize(t *testing.T, s blob.Store) {
	ctx := t.Context()
	id := blob.NewUploadID()
	data := "twelve bytes"
	write(t, s, id, 0, data)
	d := digest.FromString(data)
	for _, size := range []int64{11, 13, 0} {
		if err := s.Commit(ctx, id, d, size); err == nil {
			t.Fatalf("Commit with size %d of a %d-byte upload succeeded", size, len(data))
		}
		noBlob(t, s, d)
	}
}

// testCommitRetried: a Commit repeated after the upload was moved into place
// (a crash before the caller recorded it) succeeds only for that blob and
// size.
func testCommitRetried(t *testing.T, s blob.Store) {
	ctx := t.Context()
	id := blob.NewUploadID()
	data := "committed once"
	write(t, s, id, 0, data)
	d := digest.FromString(data)
	must(t, s.Commit(ctx, id, d, int64(len(data))), "Commit")
	must(t, s.Commit(ctx, id, d, int64(len(data))), "Commit retried")
	checkBlob(t, s, d, data)
	noUpload(t, s, id)
	for _, size := range []int64{int64(len(data)) - 1, int64(len(data)) + 1} {
		if err := s.Commit(ctx, id, d, size); err == nil {
			t.Fatalf("retried Commit with size %d of a %d-byte blob succeeded", size, len(data))
		}
	}
	other := digest.FromString("never stored")
	wantErr(t, s.Commit(ctx, id, other, int64(len(data))), blob.ErrNotFound, "retried Commit as another digest")
	noBlob(t, s, other)
	checkBlob(t, s, d, data)
}

func testCommitConcurrent(t *testing.T, s blob.Store) {
	const n = 8
	data := strings.Repeat("same layer pushed by many clients\n", 1000)
	d := digest.FromString(data)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = blob.NewUploadID()
		write(t, s, ids[i], 0, data)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = s.Commit(t.Context(), ids[i], d, int64(len(data))) })
	}
	wg.Wait()
	for i, err := range errs {
		must(t, err, "concurrent Commit %d", i)
	}
	checkBlob(t, s, d, data)
	if got := uploadIDs(t, s); len(got) != 0 {
		t.Fatalf("Uploads = %q after concurrent commits", got)
	}
}

func testAbort(t *testing.T, s blob.Store) {
	ctx := t.Context()
	id, keep := blob.NewUploadID(), blob.NewUploadID()
	write(t, s, id, 0, "abort me")
	write(t, s, keep, 0, "keep me")
	must(t, s.Abort(ctx, id), "Abort")
	noUpload(t, s, id)
	upload(t, s, keep, "keep me")
	must(t, s.Abort(ctx, id), "Abort twice")
	must(t, s.Abort(ctx, blob.NewUploadID()), "Abort of an upload that never existed")
	w, err := s.Append(ctx, id, 3)
	if err == nil {
		w.Abandon()
	}
	wantErr(t, err, blob.ErrNotFound, "Append to an aborted upload")
}

func testUploads(t *testing.T, s blob.Store) {
	ctx := t.Context()
	if ids := uploadIDs(t, s); len(ids) != 0 {
		t.Fatalf("Uploads of an empty store = %q", ids)
	}
	start := time.Now()
	a, b, c := blob.NewUploadID(), blob.NewUploadID(), blob.NewUploadID()
	for _, id := range []string{a, b, c} {
		write(t, s, id, 0, "x")
	}
	us, err := s.Uploads(ctx)
	must(t, err, "Uploads")
	for _, u := range us {
		if u.ModTime.Before(start.Add(-2*time.Second)) || u.ModTime.After(time.Now().Add(2*time.Second)) {
			t.Fatalf("upload %s ModTime %v, want about %v", u.ID, u.ModTime, start)
		}
	}
	if ids, want := uploadIDs(t, s), slices.Sorted(slices.Values([]string{a, b, c})); !slices.Equal(ids, want) {
		t.Fatalf("Uploads = %q, want %q", ids, want)
	}
	must(t, s.Commit(ctx, a, digest.FromString("x"), 1), "Commit a")
	must(t, s.Abort(ctx, b), "Abort b")
	if ids := uploadIDs(t, s); !slices.Equal(ids, []string{c}) {
		t.Fatalf("Uploads = %q, want [%s]", ids, c)
	}
}

// canary plants a file outside the store and returns its directory, and
// the same path spelled as a traversal that resolves to it from any depth.
func canary(t *testing.T) (dir, traversal string) {
	dir = t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "passwd"), []byte("canary"), 0o600), "plant canary")
	return dir, strings.Repeat("../", 32) + strings.TrimPrefix(filepath.ToSlash(dir), "/")
}

func checkCanary(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err, "reading canary directory")
	if len(entries) != 1 || entries[0].Name() != "passwd" {
		t.Fatalf("canary directory holds %v, want only passwd", entries)
	}
	b, err := os.ReadFile(filepath.Join(dir, "passwd"))
	if err != nil || string(b) != "canary" {
		t.Fatalf("canary = %q, %v", b, err)
	}
}

func testInvalidIDs(t *testing.T, s blob.Store) {
	ctx := t.Context()
	dir, trav := canary(t)
	valid := blob.NewUploadID()
	write(t, s, valid, 0, "valid")
	ids := []string{
		"", "../x", "..", ".", "/", "../../../../etc/passwd", trav + "/passwd", trav + "/new",
		strings.ToUpper(valid), valid[:31], valid + "0", valid[:31] + "/", valid[:31] + "g",
		valid[:16] + "/" + valid[17:], valid[:31] + "\x00", " " + valid[1:],
	}
	for _, id := range ids {
		w, err := s.Append(ctx, id, 0)
		if err == nil {
			w.Abandon()
		}
		wantErr(t, err, blob.ErrInvalidID, "Append(%q, 0)", id)
		_, err = s.Append(ctx, id, 5)
		wantErr(t, err, blob.ErrInvalidID, "Append(%q, 5)", id)
		rc, err := s.ReadUpload(ctx, id)
		if err == nil {
			rc.Close()
		}
		wantErr(t, err, blob.ErrInvalidID, "ReadUpload(%q)", id)
		wantErr(t, s.Commit(ctx, id, digest.FromString("valid"), 5), blob.ErrInvalidID, "Commit(%q)", id)
		wantErr(t, s.Abort(ctx, id), blob.ErrInvalidID, "Abort(%q)", id)
	}
	if got := uploadIDs(t, s); !slices.Equal(got, []string{valid}) {
		t.Fatalf("Uploads = %q, want only [%s]", got, valid)
	}
	upload(t, s, valid, "valid")
	noBlob(t, s, digest.FromString("valid"))
	checkCanary(t, dir)
}

func testInvalidDigests(t *testing.T, s blob.Store) {
	ctx := t.Context()
	dir, trav := canary(t)
	hex := digest.FromString("x").Encoded()
	bad := []digest.Digest{
		"sha256:../../etc/passwd", "md5:abc", "", "sha256", "sha256:", ":" + digest.Digest(hex),
		"sha256:" + digest.Digest(hex[:63]), "sha256:" + digest.Digest(hex) + "0",
		"sha256:" + digest.Digest(strings.ToUpper(hex)), "SHA256:" + digest.Digest(hex),
		"sha256:" + digest.Digest(hex[:62]) + "/a", "sha256:" + digest.Digest(hex[:63]) + "\x00",
		"sha384:" + digest.Digest(strings.Repeat("a", 96)), "md5:" + digest.Digest(hex[:32]),
		digest.Digest("sha256:" + trav + "/passwd"), digest.Digest("sha256:" + trav + "/new"),
		digest.Digest("sha256:" + trav), digest.Digest("../sha256:" + hex),
	}
	id := blob.NewUploadID()
	write(t, s, id, 0, "canary")
	for _, d := range bad {
		size, err := s.Stat(ctx, d)
		if err == nil || errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Stat(%q) = %d, %v; want it refused", d, size, err)
		}
		rc, err := s.Open(ctx, d)
		if err == nil {
			rc.Close()
		}
		if err == nil || errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Open(%q): %v; want it refused", d, err)
		}
		if err := s.Delete(ctx, d); err == nil || errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Delete(%q): %v; want it refused", d, err)
		}
		if err := s.Commit(ctx, id, d, 6); err == nil || errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Commit(%q): %v; want it refused", d, err)
		}
		upload(t, s, id, "canary")
	}
	checkCanary(t, dir)
}

// ---- blobs ----

func testDelete(t *testing.T, s blob.Store) {
	ctx := t.Context()
	d := commit(t, s, "delete me")
	keep := commit(t, s, "keep me")
	must(t, s.Delete(ctx, d), "Delete")
	noBlob(t, s, d)
	checkBlob(t, s, keep, "keep me")
	wantErr(t, s.Delete(ctx, d), blob.ErrNotFound, "Delete twice")
	wantErr(t, s.Delete(ctx, digest.FromString("never")), blob.ErrNotFound, "Delete of a blob never stored")
	// It can be stored again.
	commit(t, s, "delete me")
	checkBlob(t, s, d, "delete me")
}

func testOpenSeek(t *testing.T, s blob.Store) {
	const data = "0123456789abcdef"
	d := commit(t, s, data)
	rc, err := s.Open(t.Context(), d)
	must(t, err, "Open")
	defer rc.Close()
	seek := func(off int64, whence int, want int64) {
		t.Helper()
		got, err := rc.Seek(off, whence)
		if err != nil || got != want {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d", off, whence, got, err, want)
		}
	}
	read := func(n int, want string) {
		t.Helper()
		buf := make([]byte, n)
		if _, err := io.ReadFull(rc, buf); err != nil || string(buf) != want {
			t.Fatalf("read %q, %v; want %q", buf, err, want)
		}
	}
	seek(10, io.SeekStart, 10)
	read(3, "abc")
	seek(0, io.SeekCurrent, 13)
	seek(-2, io.SeekEnd, 14)
	read(2, "ef")
	if n, err := rc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("Read at the end = %d, %v; want 0, EOF", n, err)
	}
	seek(2, io.SeekStart, 2)
	rest, err := io.ReadAll(rc)
	if err != nil || string(rest) != data[2:] {
		t.Fatalf("ReadAll after Seek = %q, %v", rest, err)
	}
	seek(-16, io.SeekCurrent, 0)
	read(1, "0")
	must(t, rc.Close(), "Close")
}

func testEmptyBlob(t *testing.T, s blob.Store) {
	id := blob.NewUploadID()
	w, err := s.Append(t.Context(), id, 0)
	must(t, err, "Append")
	must(t, w.Close(), "Close without writing")
	upload(t, s, id, "")
	d := digest.FromBytes(nil)
	must(t, s.Commit(t.Context(), id, d, 0), "Commit empty")
	checkBlob(t, s, d, "")
	noUpload(t, s, id)
}

// testLargeBlob writes 64 MiB in four appends (and one abandoned append),
// never holding it in memory, and checks it by sha256.
func testLargeBlob(t *testing.T, s blob.Store) {
	if testing.Short() {
		t.Skip("64 MiB blob skipped in -short mode")
	}
	const part, parts, chunk = 16 << 20, 4, 1 << 20
	ctx := t.Context()
	rng := rand.NewChaCha8([32]byte{'b', 'e', 'r', 't', 'h'})
	h := sha256.New()
	buf := make([]byte, chunk)
	id := blob.NewUploadID()
	var offset int64
	for p := range parts {
		if p == 2 { // a request that dies midway through a part
			w, err := s.Append(ctx, id, offset)
			must(t, err, "Append(%d)", offset)
			if _, err := w.Write(bytes.Repeat([]byte{0xff}, 3*chunk+17)); err != nil {
				t.Fatal(err)
			}
			w.Abandon()
		}
		w, err := s.Append(ctx, id, offset)
		must(t, err, "Append(%d)", offset)
		for range part / chunk {
			_, _ = rng.Read(buf)
			if n, err := w.Write(buf); err != nil || n != chunk {
				t.Fatalf("Write = %d, %v", n, err)
			}
			h.Write(buf)
		}
		must(t, w.Close(), "Close part %d", p)
		offset += part
	}
	d := digest.NewDigest(digest.SHA256, h)

	hashOf := func(rc io.ReadCloser, err error, what string) digest.Digest {
		t.Helper()
		must(t, err, "%s", what)
		defer rc.Close()
		h := sha256.New()
		n, err := io.Copy(h, rc)
		must(t, err, "reading %s", what)
		if n != parts*part {
			t.Fatalf("%s holds %d bytes, want %d", what, n, parts*part)
		}
		return digest.NewDigest(digest.SHA256, h)
	}
	rc, err := s.ReadUpload(ctx, id)
	if got := hashOf(rc, err, "ReadUpload"); got != d {
		t.Fatalf("upload hashes to %s, want %s", got, d)
	}
	must(t, s.Commit(ctx, id, d, parts*part), "Commit")
	size, err := s.Stat(ctx, d)
	if err != nil || size != parts*part {
		t.Fatalf("Stat = %d, %v; want %d", size, err, parts*part)
	}
	rsc, err := s.Open(ctx, d)
	if got := hashOf(rsc, err, "Open"); got != d {
		t.Fatalf("blob hashes to %s, want %s", got, d)
	}
}
