package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/oci"
)

// marker is the object that makes an upload exist before it has bytes.
const marker = "started"

// closeTimeout bounds storing the last bytes of a request whose client
// has gone (Close does not give up with the request's context).
const closeTimeout = 2 * time.Minute

// segment is one stored piece of an upload.
type segment struct {
	key         string
	start, size int64
	etag        string
}

func (g segment) end() int64 { return g.start + g.size }

// upload is an upload's objects as listed.
type upload struct {
	dir   string
	objs  []minio.ObjectInfo // everything under dir
	chain []segment          // contiguous from offset 0
	stale []minio.ObjectInfo // segments off the chain
}

func (u *upload) exists() bool { return len(u.objs) > 0 }

func (u *upload) end() int64 {
	if len(u.chain) == 0 {
		return 0
	}
	return u.chain[len(u.chain)-1].end()
}

// smallRun is the index of the first segment of the chain's trailing run
// of segments smaller than minPart.
func (u *upload) smallRun() int {
	i := len(u.chain)
	for i > 0 && u.chain[i-1].size < minPart {
		i--
	}
	return i
}

func segmentKey(dir string, start int64) string { return fmt.Sprintf("%s%020d", dir, start) }

// load lists upload id and works out its chain of segments.
func (s *Store) load(ctx context.Context, id string) (*upload, error) {
	dir, err := s.uploadDir(id)
	if err != nil {
		return nil, err
	}
	objs, err := s.list(ctx, dir)
	if err != nil {
		return nil, err
	}
	u := &upload{dir: dir, objs: objs}
	byStart := map[int64]minio.ObjectInfo{}
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, dir)
		if len(name) != 20 {
			continue // the marker, or nothing of ours
		}
		start, err := strconv.ParseInt(name, 10, 64)
		if err != nil || start < 0 {
			continue
		}
		byStart[start] = o
	}
	// Each step removes an entry from the map: at most len(objs) steps.
	for pos := int64(0); ; {
		o, ok := byStart[pos]
		if !ok || o.Size <= 0 {
			break
		}
		delete(byStart, pos)
		u.chain = append(u.chain, segment{key: o.Key, start: pos, size: o.Size, etag: o.ETag})
		pos += o.Size
	}
	for _, o := range byStart {
		u.stale = append(u.stale, o)
	}
	return u, nil
}

// Append implements blob.Store.
func (s *Store) Append(ctx context.Context, id string, offset int64) (blob.UploadWriter, error) {
	u, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("upload %s: negative offset %d", id, offset)
	}
	if !u.exists() {
		if offset != 0 {
			return nil, blob.ErrNotFound
		}
		if _, err := s.put(ctx, u.dir+marker, nil); err != nil {
			return nil, err
		}
	}
	if end := u.end(); end < offset {
		return nil, fmt.Errorf("upload %s holds %d bytes, fewer than the recorded offset %d", id, end, offset)
	}
	// Discard everything past offset: segments off the chain, those
	// starting at or after it, and the tail of the one it cuts.
	drop := u.stale
	keep := u.chain
	for len(keep) > 0 && keep[len(keep)-1].start >= offset {
		drop = append(drop, minio.ObjectInfo{Key: keep[len(keep)-1].key})
		keep = keep[:len(keep)-1]
	}
	if err := s.remove(ctx, drop); err != nil {
		return nil, err
	}
	if n := len(keep); n > 0 && keep[n-1].end() > offset {
		cut, err := s.truncate(ctx, keep[n-1], offset)
		if err != nil {
			return nil, err
		}
		keep[n-1] = cut
	}
	u.chain = keep
	w := &writer{s: s, ctx: ctx, dir: u.dir, start: offset}
	w.tail = u.chain[u.smallRun():]
	for _, g := range w.tail {
		w.tailN += g.size
	}
	if w.tailN >= minPart { // only if PartSize changed meanwhile: fold now
		if err := w.flush(ctx); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// truncate rewrites segment g to end at offset.
func (s *Store) truncate(ctx context.Context, g segment, offset int64) (segment, error) {
	opts := minio.GetObjectOptions{}
	if err := opts.SetMatchETag(g.etag); err != nil {
		return g, err
	}
	if err := opts.SetRange(0, offset-g.start-1); err != nil {
		return g, err
	}
	obj, err := s.c.GetObject(ctx, s.bucket, g.key, opts)
	if err != nil {
		return g, err
	}
	defer obj.Close()
	prefix, err := io.ReadAll(io.LimitReader(obj, offset-g.start))
	if err != nil {
		return g, err
	}
	if int64(len(prefix)) != offset-g.start {
		return g, fmt.Errorf("segment %s: read %d of %d bytes", g.key, len(prefix), offset-g.start)
	}
	info, err := s.put(ctx, g.key, prefix)
	if err != nil {
		return g, err
	}
	return segment{key: g.key, start: g.start, size: int64(len(prefix)), etag: info.ETag}, nil
}

// writer buffers up to PartSize bytes and stores them as segments (see the
// package comment).
type writer struct {
	s     *Store
	ctx   context.Context
	dir   string
	tail  []segment // the chain's trailing small segments, folded into the next full one
	tailN int64
	start int64 // upload offset of buf[0]
	buf   []byte
	err   error
}

func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 { // each round takes at least one byte: limit > len(buf)
		// The buffer grows as bytes come (a 1-byte chunk costs no 8 MiB).
		limit := int(w.s.partSize - w.tailN)
		k := min(limit-len(w.buf), len(p))
		w.buf = append(w.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(w.buf) == limit {
			if err := w.flush(w.ctx); err != nil {
				w.err = err
				return n, err
			}
		}
	}
	return n, nil
}

// flush stores the small tail and the buffer as one segment at the tail's
// first key (replacing it) and deletes the rest of the tail, now off the
// chain.
func (w *writer) flush(ctx context.Context) error {
	key, size := w.start, int64(len(w.buf))
	if len(w.tail) > 0 {
		key, size = w.tail[0].start, size+w.tailN
	}
	if size == 0 {
		return nil
	}
	if err := write(ctx, func() error {
		// A new body each time: the tail is read again from its segments.
		body := io.Reader(bytes.NewReader(w.buf))
		if len(w.tail) > 0 {
			tail := w.s.readSegments(ctx, w.tail)
			defer tail.Close()
			body = io.MultiReader(tail, body)
		}
		_, err := w.s.c.PutObject(ctx, w.s.bucket, segmentKey(w.dir, key), body, size, minio.PutObjectOptions{})
		return err
	}); err != nil {
		return err
	}
	var covered []minio.ObjectInfo
	for _, g := range w.tail[min(1, len(w.tail)):] {
		covered = append(covered, minio.ObjectInfo{Key: g.key})
	}
	if err := w.s.remove(ctx, covered); err != nil {
		return err
	}
	w.start += int64(len(w.buf))
	w.buf, w.tail, w.tailN = w.buf[:0], nil, 0
	return nil
}

// Close stores what is buffered: folded with the small tail when together
// they reach 5 MiB, else as a new small segment. It finishes even if the
// request's context is cancelled (the bytes arrived; the caller records
// them).
func (w *writer) Close() error {
	if w.err != nil {
		return w.err
	}
	w.err = errors.New("upload writer closed")
	if len(w.buf) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), closeTimeout)
	defer cancel()
	if w.tailN+int64(len(w.buf)) < minPart {
		w.tail, w.tailN = nil, 0 // a new small segment after the tail
	}
	return w.flush(ctx)
}

// Abandon drops the buffer. Segments already stored past the caller's
// offset are removed by the next Append.
func (w *writer) Abandon() {
	w.buf = nil
	w.err = errors.New("upload writer abandoned")
}

// ReadUpload implements blob.Store.
func (s *Store) ReadUpload(ctx context.Context, id string) (io.ReadCloser, error) {
	u, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if !u.exists() {
		return nil, blob.ErrNotFound
	}
	return s.readSegments(ctx, u.chain), nil
}

// readSegments reads segments one after the other, each GET pinned to the
// ETag it was listed with, so a segment replaced meanwhile is an error
// rather than other bytes.
func (s *Store) readSegments(ctx context.Context, segs []segment) io.ReadCloser {
	return &segReader{s: s, ctx: ctx, segs: segs}
}

type segReader struct {
	s    *Store
	ctx  context.Context
	segs []segment
	cur  *minio.Object
	got  int64 // bytes read of segs[0]
}

func (r *segReader) Read(p []byte) (int, error) {
	for len(r.segs) > 0 { // each round returns or finishes a segment
		g := r.segs[0]
		if r.cur == nil {
			opts := minio.GetObjectOptions{}
			if err := opts.SetMatchETag(g.etag); err != nil {
				return 0, err
			}
			obj, err := r.s.c.GetObject(r.ctx, r.s.bucket, g.key, opts)
			if err != nil {
				return 0, err
			}
			r.cur, r.got = obj, 0
		}
		n, err := r.cur.Read(p[:min(int64(len(p)), g.size-r.got)])
		r.got += int64(n)
		if err != nil && err != io.EOF {
			return n, fmt.Errorf("reading upload segment %s: %w", g.key, err)
		}
		if r.got == g.size {
			r.cur.Close()
			r.cur, r.segs = nil, r.segs[1:]
		} else if err == io.EOF {
			return n, fmt.Errorf("upload segment %s: %d of %d bytes: %w", g.key, r.got, g.size, io.ErrUnexpectedEOF)
		}
		if n > 0 || len(p) == 0 {
			return n, nil
		}
	}
	return 0, io.EOF
}

func (r *segReader) Close() error {
	if r.cur != nil {
		r.cur.Close()
		r.cur = nil
	}
	r.segs = nil
	return nil
}

// Commit implements blob.Store (see the package comment).
func (s *Store) Commit(ctx context.Context, id string, d digest.Digest, size int64) error {
	key, err := s.blobKey(d)
	if err != nil {
		return err
	}
	u, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	stored, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil && !isNotFound(err) {
		return err
	}
	have := err == nil
	if !u.exists() {
		// A retry of a Commit that composed the blob and was cut short.
		if !have {
			return blob.ErrNotFound
		}
		if stored.Size != size {
			return fmt.Errorf("blob %s holds %d bytes, expected %d", d, stored.Size, size)
		}
		return nil
	}
	if end := u.end(); end != size {
		return fmt.Errorf("upload %s holds %d bytes, expected %d", id, end, size)
	}
	if !have || stored.Size != size {
		if err := s.assemble(ctx, u, key, d, size); err != nil {
			// Another replica committing the same upload at once may have
			// composed the blob and removed the parts under us: its
			// verified blob is what this commit would have written.
			if st, serr := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); serr == nil && st.Size == size {
				return s.Abort(ctx, id)
			}
			return err
		}
	}
	return s.Abort(ctx, id)
}

// assemble verifies an upload's bytes against d and composes them into key.
func (s *Store) assemble(ctx context.Context, u *upload, key string, d digest.Digest, size int64) error {
	if run := u.smallRun(); len(u.chain)-run > 1 {
		// Only the last source of a compose may be under 5 MiB.
		w := &writer{s: s, dir: u.dir, tail: u.chain[run:], start: u.end()}
		for _, g := range w.tail {
			w.tailN += g.size
		}
		if err := w.flush(ctx); err != nil {
			return err
		}
		g := u.chain[run]
		info, err := s.c.StatObject(ctx, s.bucket, g.key, minio.StatObjectOptions{})
		if err != nil {
			return err
		}
		u.chain = append(u.chain[:run], segment{key: g.key, start: g.start, size: info.Size, etag: info.ETag})
	}
	h, err := oci.NewHash(d.Algorithm())
	if err != nil {
		return err
	}
	r := s.readSegments(ctx, u.chain)
	n, err := io.Copy(h, r)
	r.Close()
	if err != nil {
		return err
	}
	if got := digest.NewDigest(d.Algorithm(), h); n != size || got != d {
		return fmt.Errorf("upload %s: stored bytes are %d bytes of digest %s, expected %d of %s", u.dir, n, got, size, d)
	}
	if len(u.chain) == 0 {
		_, err := s.put(ctx, key, nil)
		return err
	}
	srcs := make([]minio.CopySrcOptions, len(u.chain))
	for i, g := range u.chain {
		srcs[i] = minio.CopySrcOptions{Bucket: s.bucket, Object: g.key, MatchETag: g.etag}
	}
	var info minio.UploadInfo
	err = write(ctx, func() (err error) {
		info, err = s.c.ComposeObject(ctx, minio.CopyDestOptions{Bucket: s.bucket, Object: key, NumThreads: 4}, srcs...)
		return err
	})
	if err != nil {
		return fmt.Errorf("composing blob %s: %w", d, err)
	}
	if info.Size != size {
		st, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
		if err != nil {
			return err
		}
		if st.Size != size {
			return fmt.Errorf("composed blob %s holds %d bytes, expected %d", d, st.Size, size)
		}
	}
	return nil
}
