// Package s3 is the blob.Store of scale-out deployments: an S3-compatible
// object store (AWS S3, MinIO, versitygw, …) shared by every replica.
//
// Layout under the bucket and optional prefix, as in the fs store:
//
//	blobs/<alg>/<first two hex>/<hex>   committed, immutable blobs
//	uploads/<id>/started                marker: the upload exists (offset 0 was opened)
//	uploads/<id>/<offset, 20 digits>    a segment: the upload's bytes from that offset
//
// # Uploads
//
// All upload state lives in the bucket, so any replica can take the next
// chunk and a restart loses nothing acknowledged. The upload's bytes are
// the chain of segments that starts at offset 0, each starting where the
// previous one ends; segments off that chain are leftovers of a request
// that died and are ignored (and removed by the next Append).
//
// A registry chunk may be any size, even one byte, but S3 composes an object
// only from parts of at least 5 MiB (except the last). So a writer buffers
// at most PartSize bytes in memory and stores them as segments:
//
//   - a full buffer becomes a segment of PartSize bytes;
//   - at Close, the rest becomes a small segment ("pending"), unless the
//     trailing run of small segments plus the rest reach 5 MiB: then they
//     are folded into one segment (rewritten at the first small segment's
//     key, a PUT that replaces it atomically; the others, now off the
//     chain, are deleted).
//
// Hence every segment but those of the trailing run is at least 5 MiB, the
// run holds less than 5 MiB, and each byte is rewritten at most once.
// Append at an offset inside the chain deletes the segments past it and
// rewrites the one it cuts (a ranged GET and a PUT of at most PartSize).
//
// Commit folds the trailing run into one segment, streams every segment
// back (each GET pinned to the ETag seen in the listing) and checks the
// digest and size, then composes the blob from exactly those segment
// versions server-side (UploadPartCopy with If-Match on each source;
// CompleteMultipartUpload makes it visible at once, whole). Verifying the
// segments rather than re-reading the composed object costs the same one
// read, and nothing unverified ever becomes visible: the compose copies
// only the pinned versions, and the new object's size is checked. Then the
// upload's objects are deleted; a Commit retried after a crash in between
// finds the blob in place and succeeds. A blob can hold at most 10,000
// segments (about 78 GiB at the default 8 MiB PartSize).
//
// The store is a blob.Redirector: RedirectURL presigns a GET of the blob.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/oci"
)

// minPart is S3's smallest multipart part (all parts but the last).
const minPart = 5 << 20

// DefaultPartSize is the largest segment (and the writer's buffer).
const DefaultPartSize = 8 << 20

// Options configure a Store.
type Options struct {
	// Endpoint is the server's URL, e.g. https://s3.eu-west-1.amazonaws.com
	// or http://127.0.0.1:9000.
	Endpoint string
	Bucket   string
	// Prefix, if set, is put before every key ("berth/" → berth/blobs/…).
	Prefix string
	Region string
	// AccessKey and SecretKey; when both are empty, credentials come from
	// the environment (AWS_ACCESS_KEY_ID…, MINIO_ACCESS_KEY…), the AWS
	// credentials file, or the instance's IAM role.
	AccessKey, SecretKey string
	// PathStyle addresses the bucket as ENDPOINT/BUCKET (MinIO and most
	// self-hosted servers) rather than BUCKET.ENDPOINT.
	PathStyle bool
	// PartSize is the largest segment, at least 5 MiB (default 8 MiB).
	PartSize int64
	// Transport, if set, replaces the HTTP transport (tests).
	Transport http.RoundTripper
}

// Store is a blob.Store on an S3 bucket.
type Store struct {
	c        *minio.Client
	bucket   string
	prefix   string
	partSize int64
}

var (
	_ blob.Store      = (*Store)(nil)
	_ blob.Redirector = (*Store)(nil)
)

// New connects to the bucket and checks that it exists.
func New(ctx context.Context, o Options) (*Store, error) {
	u, err := url.Parse(o.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("s3 endpoint: want http(s)://HOST[:PORT]")
	}
	if o.Bucket == "" {
		return nil, errors.New("s3 bucket: must not be empty")
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartSize < minPart || o.PartSize > 5<<30 {
		return nil, fmt.Errorf("s3 part size %d: want 5 MiB to 5 GiB", o.PartSize)
	}
	creds := credentials.NewStaticV4(o.AccessKey, o.SecretKey, "")
	if o.AccessKey == "" && o.SecretKey == "" {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.FileAWSCredentials{},
			&credentials.IAM{Client: &http.Client{Transport: http.DefaultTransport}},
		})
	}
	lookup := minio.BucketLookupAuto
	if o.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        creds,
		Secure:       u.Scheme == "https",
		Region:       o.Region,
		BucketLookup: lookup,
		Transport:    o.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	prefix := strings.Trim(o.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	s := &Store{c: c, bucket: o.Bucket, prefix: prefix, partSize: o.PartSize}
	if err := s.Ping(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Ping checks that the bucket answers and exists.
func (s *Store) Ping(ctx context.Context) error {
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("s3 bucket %s: %w", s.bucket, err)
	}
	if !ok {
		return fmt.Errorf("s3 bucket %s does not exist", s.bucket)
	}
	return nil
}

// blobKey builds a key only from a digest that passed oci.ParseDigest.
func (s *Store) blobKey(d digest.Digest) (string, error) {
	if _, err := oci.ParseDigest(string(d)); err != nil {
		return "", err
	}
	hex := d.Encoded()
	return s.prefix + path.Join("blobs", string(d.Algorithm()), hex[:2], hex), nil
}

// uploadDir is the key prefix of an upload's objects, ending in "/".
func (s *Store) uploadDir(id string) (string, error) {
	if !blob.ValidUploadID(id) {
		return "", blob.ErrInvalidID
	}
	return s.prefix + "uploads/" + id + "/", nil
}

func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusNotFound || r.Code == minio.NoSuchKey
}

func notFound(err error) error {
	if isNotFound(err) {
		return blob.ErrNotFound
	}
	return err
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	key, err := s.blobKey(d)
	if err != nil {
		return 0, err
	}
	oi, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return 0, notFound(err)
	}
	return oi.Size, nil
}

// Open implements blob.Store. The reader issues ranged GETs as it is
// seeked, so http.ServeContent answers Range requests without reading the
// skipped bytes.
func (s *Store) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error) {
	key, err := s.blobKey(d)
	if err != nil {
		return nil, err
	}
	obj, err := s.c.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, notFound(err)
	}
	// GetObject is lazy: Stat makes the request, so a missing blob is
	// reported here rather than at the first Read.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, notFound(err)
	}
	return obj, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	key, err := s.blobKey(d)
	if err != nil {
		return err
	}
	// DELETE of a missing key succeeds in S3: look first.
	if _, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err != nil {
		return notFound(err)
	}
	return s.c.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
}

// RedirectURL implements blob.Redirector: a presigned GET of blob d.
func (s *Store) RedirectURL(ctx context.Context, d digest.Digest, ttl time.Duration) (string, error) {
	key, err := s.blobKey(d)
	if err != nil {
		return "", err
	}
	u, err := s.c.PresignedGetObject(ctx, s.bucket, key, ttl, nil)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// Abort implements blob.Store.
func (s *Store) Abort(ctx context.Context, id string) error {
	dir, err := s.uploadDir(id)
	if err != nil {
		return err
	}
	objs, err := s.list(ctx, dir)
	if err != nil {
		return err
	}
	return s.remove(ctx, objs)
}

// Uploads implements blob.Store: one entry per upload id, with the newest
// modification time of its objects.
func (s *Store) Uploads(ctx context.Context) ([]blob.UploadInfo, error) {
	objs, err := s.list(ctx, s.prefix+"uploads/")
	if err != nil {
		return nil, err
	}
	var out []blob.UploadInfo
	index := map[string]int{}
	for _, o := range objs {
		id, _, ok := strings.Cut(strings.TrimPrefix(o.Key, s.prefix+"uploads/"), "/")
		if !ok || !blob.ValidUploadID(id) {
			continue
		}
		if i, seen := index[id]; seen {
			if o.LastModified.After(out[i].ModTime) {
				out[i].ModTime = o.LastModified
			}
			continue
		}
		index[id] = len(out)
		out = append(out, blob.UploadInfo{ID: id, ModTime: o.LastModified})
	}
	return out, nil
}

// list returns every object under prefix (recursively).
func (s *Store) list(ctx context.Context, prefix string) ([]minio.ObjectInfo, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the lister if we return early
	var out []minio.ObjectInfo
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("listing %s: %w", prefix, o.Err)
		}
		out = append(out, o)
	}
	return out, nil
}

// remove deletes objects (missing ones are not an error).
func (s *Store) remove(ctx context.Context, objs []minio.ObjectInfo) error {
	if len(objs) == 0 {
		return nil
	}
	ch := make(chan minio.ObjectInfo, len(objs))
	for _, o := range objs {
		ch <- minio.ObjectInfo{Key: o.Key}
	}
	close(ch)
	var errs []error
	for e := range s.c.RemoveObjects(ctx, s.bucket, ch, minio.RemoveObjectsOptions{}) {
		if e.Err != nil && !isNotFound(e.Err) {
			errs = append(errs, fmt.Errorf("removing %s: %w", e.ObjectName, e.Err))
		}
	}
	return errors.Join(errs...)
}
