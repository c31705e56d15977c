package registry

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// TagWriter stores manifests and deletes manifests and tags for the
// registry (Options.Tags): meta.Store itself, or immutable.Guard over it.
type TagWriter interface {
	PutManifest(ctx context.Context, m *meta.Manifest, tags []string) error
	DeleteManifest(ctx context.Context, repo string, d digest.Digest) error
	DeleteTag(ctx context.Context, repo, tag string) error
}

// errImmutableTag answers a push or delete refused by a tag immutability
// rule: 412 PRECONDITION, as Harbor (and the issue) have it; clients print
// the message ("unknown: the tag … is configured as immutable …" in
// docker, which knows no such code). Only manifest PUTs and deletes are
// refused, which docker does not retry, so the unknown code costs no
// retries.
func errImmutableTag(e *meta.ImmutableTagError) *Error {
	msg := fmt.Sprintf("the tag %s:%s is configured as immutable: it points at %s and cannot be overwritten with another digest (pushing the same digest again succeeds)",
		e.Repo, e.Tag, e.Digest)
	if e.Delete {
		msg = fmt.Sprintf("the tag %s:%s is configured as immutable: it cannot be deleted, nor the manifest %s it points at",
			e.Repo, e.Tag, e.Digest)
	}
	return &Error{Code: CodePrecondition, Message: msg,
		Detail: map[string]string{"repository": e.Repo, "tag": e.Tag, "digest": string(e.Digest)}}
}
