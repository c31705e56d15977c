package registry

import (
	"context"
	"encoding/json"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// emptyConfig is the OCI empty descriptor's content.
var emptyConfig = []byte("{}")

// PushReferrer stores layer and an OCI image manifest (the empty config,
// that one layer, subject, artifactType) in repo as a client's push
// would, for berth's own accessories (SBOMs, scan.SBOMWriter). It
// returns the manifest's digest. The push is berth's own
// (events.Internal); it is charged to no quota check, as Harbor's
// accessories it generates.
func (r *Registry) PushReferrer(ctx context.Context, repo string, subject *meta.Manifest, artifactType, layerMediaType string,
	layer []byte, annotations map[string]string) (digest.Digest, error) {
	ctx = events.WithInternal(ctx)
	for _, b := range [][]byte{emptyConfig, layer} {
		if err := r.putBytes(ctx, repo, b); err != nil {
			return "", err
		}
	}
	desc := func(mt string, b []byte) oci.Descriptor {
		return oci.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
	}
	doc := map[string]any{
		"schemaVersion": 2, "mediaType": oci.MediaTypeImageManifest, "artifactType": artifactType,
		"config":  desc("application/vnd.oci.empty.v1+json", emptyConfig),
		"layers":  []oci.Descriptor{desc(layerMediaType, layer)},
		"subject": oci.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
	}
	if len(annotations) > 0 {
		doc["annotations"] = annotations
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	parsed, err := oci.ParseManifest(oci.MediaTypeImageManifest, body)
	if err != nil {
		return "", err
	}
	m := &meta.Manifest{Repo: repo, Digest: digest.FromBytes(body), MediaType: parsed.MediaType, Size: int64(len(body)), Body: body,
		ArtifactType: parsed.ArtifactType, Annotations: parsed.Annotations, Refs: parsed.Refs, Subject: subject.Digest}
	if err := r.opt.Tags.PutManifest(ctx, m, nil); err != nil {
		return "", err
	}
	if r.opt.Events.Wants(events.PushArtifact) {
		r.opt.Events.Publish(ctx, events.Event{Type: events.PushArtifact, Operator: "berth", Repo: repo, Project: events.ProjectOf(repo),
			Digest: m.Digest, MediaType: m.MediaType, Size: m.Size})
	}
	return m.Digest, nil
}

// putBytes stores b as a blob of repo unless it is there.
func (r *Registry) putBytes(ctx context.Context, repo string, b []byte) error {
	d := digest.FromBytes(b)
	if _, err := r.meta.BlobSize(ctx, repo, d); err == nil {
		return nil
	}
	id := blob.NewUploadID()
	w, err := r.blobs.Append(ctx, id, 0)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		w.Abandon()
		_ = r.blobs.Abort(ctx, id)
		return err
	}
	if err := w.Close(); err != nil {
		_ = r.blobs.Abort(ctx, id)
		return err
	}
	return r.commit(ctx, repo, id, d, int64(len(b)), false)
}
