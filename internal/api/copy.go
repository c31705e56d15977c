package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/rbac"
)

// parseCopyFrom reads copyArtifact's from, "project/repository:tag" or
// "project/repository@digest" (with both, the digest counts, as Harbor
// reads a Docker reference).
func parseCopyFrom(from string) (project, repo, ref string, err error) {
	bad := errBadRequest(fmt.Sprintf("invalid from %q: want project/repository:tag or project/repository@digest", from))
	name, dg, hasDigest := strings.Cut(from, "@")
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, ref = name[:i], name[i+1:]
		if !oci.ValidTag(ref) {
			return "", "", "", bad
		}
	}
	if hasDigest {
		if _, err := oci.ParseDigest(dg); err != nil {
			return "", "", "", bad
		}
		ref = dg
	}
	project, _, nested := strings.Cut(name, "/")
	if ref == "" || !nested || !oci.ValidName(name) {
		return "", "", "", bad
	}
	return project, name, ref, nil
}

// copyArtifact: POST /projects/{project_name}/repositories/{repository_name}/artifacts?from=…
// copies an artifact, with its index children and accessories, into the
// repository: blobs and manifests are linked in the database, no byte is
// copied, and nothing is left behind if it fails. Every tag the artifact
// has in its repository is set on the copy too (Harbor copies the tags of
// the artifact, whether from names a tag or a digest), moving a tag the
// destination has on another artifact. The caller needs push in the
// destination and pull in the source; a source the caller may not see is
// 404, as a missing one. Copying an accessory alone is refused (403, as
// Harbor): it is copied with its artifact.
func (s *Server) copyArtifact(w http.ResponseWriter, r *http.Request) error {
	p, dst, err := s.repoFor(r, rbac.Push)
	if err != nil {
		return err
	}
	from := r.URL.Query().Get("from")
	srcProject, src, ref, err := parseCopyFrom(from)
	if err != nil {
		return err
	}
	missing := errNotFound(fmt.Sprintf("artifact %s not found", from))
	sp, err := s.opt.Access.GetProjectByName(r.Context(), srcProject)
	if isNotFound(err) {
		return missing
	} else if err != nil {
		return err
	}
	if err := s.mayAct(r, sp, rbac.Pull, missing); err != nil {
		return err
	}
	m, err := s.opt.Store.GetManifest(r.Context(), src, ref, false)
	if isNotFound(err) {
		return missing
	} else if err != nil {
		return err
	}
	if subject, err := s.opt.Catalog.AccessoryOf(r.Context(), src, m.Digest); err != nil {
		return err
	} else if subject != "" {
		return &Error{http.StatusForbidden, "DENIED", "the operation isn't supported for an artifact accessory"}
	}
	res, err := s.guard().CopyArtifact(r.Context(), src, dst, m.Digest) // 412 moving an immutable tag
	var mre *meta.MissingRefError
	switch {
	case errors.Is(err, meta.ErrManifestNotFound): // deleted meanwhile
		return missing
	case errors.As(err, &mre):
		return errConflict(fmt.Sprintf("cannot copy %s: %v", from, mre))
	case errors.Is(err, meta.ErrCopyTooLarge):
		return errBadRequest(fmt.Sprintf("cannot copy %s: %v (at most %d)", from, err, meta.MaxCopyManifests))
	case err != nil:
		return err
	}
	s.record(r.Context(), r, "push", "artifact", dst+"@"+string(m.Digest), p) // a copy is a push (Harbor: create_artifact)
	for _, t := range res.Tags {
		s.record(r.Context(), r, "create", "tag", dst+":"+t, p)
	}
	s.publish(r, events.Event{Type: events.PushArtifact, Repo: dst, Digest: m.Digest, Tags: res.Tags, MediaType: m.MediaType, Size: m.Size})
	return created(w, fmt.Sprintf("%s/projects/%s/repositories/%s/artifacts/%s", Prefix, p.Name,
		repoPathSegment(p, dst), url.PathEscape(ref)))
}
