package api

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/rbac"
)

// repository is Harbor's Repository.
type repository struct {
	ID            int64      `json:"id"`
	ProjectID     int64      `json:"project_id"`
	Name          string     `json:"name"`
	Description   string     `json:"description"`
	ArtifactCount int64      `json:"artifact_count"`
	PullCount     int64      `json:"pull_count"`
	CreationTime  harborTime `json:"creation_time"`
	UpdateTime    harborTime `json:"update_time"`
}

// artifact is Harbor's Artifact (the fields berth knows).
type artifact struct {
	ID                int64      `json:"id"`
	Type              string     `json:"type"`
	MediaType         string     `json:"media_type"`
	ManifestMediaType string     `json:"manifest_media_type"`
	ProjectID         int64      `json:"project_id"`
	RepositoryID      int64      `json:"repository_id"`
	RepositoryName    string     `json:"repository_name"`
	Digest            string     `json:"digest"`
	Size              int64      `json:"size"`
	PushTime          harborTime `json:"push_time"`
	PullTime          harborTime `json:"pull_time"`
	Tags              []tag      `json:"tags"`
	Labels            []label    `json:"labels"` // null unless asked for (with_label=true)
}

// tag is Harbor's Tag.
type tag struct {
	ID           int64      `json:"id"`
	RepositoryID int64      `json:"repository_id"`
	ArtifactID   int64      `json:"artifact_id"`
	Name         string     `json:"name"`
	PushTime     harborTime `json:"push_time"`
	PullTime     harborTime `json:"pull_time"`
	Immutable    bool       `json:"immutable"`
	Signed       bool       `json:"signed"`
}

// stableID gives rows without a numeric key (repositories, artifacts,
// tags are keyed by name and digest) a stable id that fits a JSON number.
func stableID(parts ...string) int64 {
	h := fnv.New64a()
	h.Write([]byte(strings.Join(parts, "\x00")))
	return int64(h.Sum64() & (1<<53 - 1))
}

// repoFor authorizes action in {project_name} and returns the project and
// the full repository name. Harbor clients encode '/' in
// {repository_name} as %252F; a single %2F is accepted as well.
func (s *Server) repoFor(r *http.Request, action rbac.Action) (*meta.Project, string, error) {
	p, err := s.projectFor(r, "project_name", action)
	if err != nil {
		return nil, "", err
	}
	name := r.PathValue("repository_name")
	if strings.Contains(name, "%") {
		if name, err = url.PathUnescape(name); err != nil {
			return nil, "", errBadRequest("invalid repository name encoding")
		}
	}
	full := p.Name + "/" + name
	if !oci.ValidName(full) {
		return nil, "", errBadRequest("invalid repository name " + full)
	}
	return p, full, nil
}

func repositoryJSON(projectID int64, ri meta.RepoInfo) repository {
	return repository{ID: ri.ID, ProjectID: projectID, Name: ri.Name, Description: ri.Description, ArtifactCount: ri.ArtifactCount,
		PullCount: ri.PullCount, CreationTime: harborTime(ri.CreatedAt), UpdateTime: harborTime(ri.UpdatedAt)}
}

// artifactType is Harbor's artifact type and media type (the config's for
// images, the manifest's for indexes).
func artifactType(a meta.ArtifactInfo) (typ, mediaType string) {
	mediaType = a.ArtifactType
	if mediaType == "" {
		mediaType = a.MediaType
	}
	switch {
	case a.ArtifactType == "application/vnd.oci.image.config.v1+json",
		a.ArtifactType == "application/vnd.docker.container.image.v1+json",
		a.ArtifactType == "" && oci.IsIndexType(a.MediaType):
		return "IMAGE", mediaType
	case a.ArtifactType == "application/vnd.cncf.helm.config.v1+json":
		return "CHART", mediaType
	case a.ArtifactType == "application/vnd.cnab.manifest.v1":
		return "CNAB", mediaType
	}
	return "UNKNOWN", mediaType
}

func artifactJSON(p *meta.Project, repo string, a meta.ArtifactInfo) artifact {
	typ, mt := artifactType(a)
	repoID, artID := a.RepositoryID, stableID(repo, string(a.Digest))
	out := artifact{ID: artID, Type: typ, MediaType: mt, ManifestMediaType: a.MediaType, ProjectID: p.ID,
		RepositoryID: repoID, RepositoryName: repo, Digest: string(a.Digest), Size: a.Size, PushTime: harborTime(a.PushedAt), Tags: []tag{},
		PullTime: harborTime(a.PulledAt)}
	if a.Tags == nil { // not read (with_tag=false): null, as Harbor
		out.Tags = nil
	}
	for _, t := range a.Tags {
		out.Tags = append(out.Tags, tag{ID: stableID(repo, t.Name), RepositoryID: repoID, ArtifactID: artID, Name: t.Name,
			PushTime: harborTime(t.PushedAt), PullTime: harborTime(t.PulledAt)})
	}
	return out
}

// listRepositories: GET /projects/{project_name}/repositories (q=name=~x).
func (s *Server) listRepositories(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name", rbac.ListRepos)
	if err != nil {
		return err
	}
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	list, total, err := s.opt.Catalog.ProjectRepositories(r.Context(), p.Name, lq)
	if err != nil {
		return err
	}
	return writeList(w, r, lq.Page, total, list, func(ri *meta.RepoInfo) repository { return repositoryJSON(p.ID, *ri) })
}

// getRepository: GET /projects/{project_name}/repositories/{repository_name}.
func (s *Server) getRepository(w http.ResponseWriter, r *http.Request) error {
	p, repo, err := s.repoFor(r, rbac.ListRepos)
	if err != nil {
		return err
	}
	ri, err := s.opt.Catalog.Repository(r.Context(), repo)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, repositoryJSON(p.ID, *ri))
}

// deleteRepository: DELETE /projects/{project_name}/repositories/{repository_name}.
func (s *Server) deleteRepository(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkDelete(); err != nil {
		return err
	}
	p, repo, err := s.repoFor(r, rbac.DeleteArtifact)
	if err != nil {
		return err
	}
	if err := s.opt.Catalog.DeleteRepository(r.Context(), repo); err != nil {
		return err
	}
	s.record(r.Context(), r, "delete", "repository", repo, p)
	return ok(w)
}

// listArtifacts: GET .../repositories/{repository_name}/artifacts.
func (s *Server) listArtifacts(w http.ResponseWriter, r *http.Request) error {
	p, repo, err := s.repoFor(r, rbac.ListRepos)
	if err != nil {
		return err
	}
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	if _, err := s.opt.Catalog.Repository(r.Context(), repo); err != nil {
		return err
	}
	list, total, err := s.opt.Catalog.Artifacts(r.Context(), repo, lq)
	if err != nil {
		return err
	}
	labels, err := s.artifactLabels(r, repo, list...)
	if err != nil {
		return err
	}
	return writeList(w, r, lq.Page, total, list, func(a *meta.ArtifactInfo) artifact { return withLabels(artifactJSON(p, repo, *a), labels) })
}

// artifactFor authorizes action and resolves {reference} (tag or digest).
func (s *Server) artifactFor(r *http.Request, action rbac.Action) (*meta.Project, string, *meta.ArtifactInfo, error) {
	p, repo, err := s.repoFor(r, action)
	if err != nil {
		return nil, "", nil, err
	}
	ref := r.PathValue("reference")
	d := digest.Digest(ref)
	if !oci.IsDigest(ref) {
		m, err := s.opt.Store.GetManifest(r.Context(), repo, ref, false)
		if isNotFound(err) {
			return nil, "", nil, errNotFound(fmt.Sprintf("artifact %s:%s not found", repo, ref))
		} else if err != nil {
			return nil, "", nil, err
		}
		d = m.Digest
	}
	a, err := s.opt.Catalog.Artifact(r.Context(), repo, d)
	if isNotFound(err) {
		return nil, "", nil, errNotFound(fmt.Sprintf("artifact %s@%s not found", repo, ref))
	}
	return p, repo, a, err
}

// getArtifact: GET .../artifacts/{reference}.
func (s *Server) getArtifact(w http.ResponseWriter, r *http.Request) error {
	p, repo, a, err := s.artifactFor(r, rbac.ListRepos)
	if err != nil {
		return err
	}
	labels, err := s.artifactLabels(r, repo, *a)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, withLabels(artifactJSON(p, repo, *a), labels))
}

// deleteArtifact: DELETE .../artifacts/{reference} removes the manifest
// and its tags.
func (s *Server) deleteArtifact(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkDelete(); err != nil {
		return err
	}
	p, repo, a, err := s.artifactFor(r, rbac.DeleteArtifact)
	if err != nil {
		return err
	}
	if err := s.opt.Store.DeleteManifest(r.Context(), repo, a.Digest); err != nil {
		return err
	}
	s.record(r.Context(), r, "delete", "artifact", repo+"@"+string(a.Digest), p)
	return ok(w)
}

// listTags: GET .../artifacts/{reference}/tags.
func (s *Server) listTags(w http.ResponseWriter, r *http.Request) error {
	p, repo, a, err := s.artifactFor(r, rbac.ListRepos)
	if err != nil {
		return err
	}
	pg, err := pageOf(r)
	if err != nil {
		return err
	}
	tags := artifactJSON(p, repo, *a).Tags
	setPaging(w, r, pg, int64(len(tags)))
	return writeJSON(w, http.StatusOK, pageSlice(tags, pg))
}

// createTag: POST .../artifacts/{reference}/tags {"name": …}.
func (s *Server) createTag(w http.ResponseWriter, r *http.Request) error {
	p, repo, a, err := s.artifactFor(r, rbac.CreateTag)
	if err != nil {
		return err
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if !oci.ValidTag(req.Name) {
		return errBadRequest(fmt.Sprintf("invalid tag name %q", req.Name))
	}
	err = s.opt.Catalog.CreateTag(r.Context(), repo, req.Name, a.Digest)
	if errors.Is(err, meta.ErrConflict) {
		return errConflict(fmt.Sprintf("the tag %s already exists under the repository %s", req.Name, repo))
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "create", "tag", repo+":"+req.Name, p)
	return created(w, fmt.Sprintf("%s/projects/%s/repositories/%s/artifacts/%s/tags/%s", Prefix, p.Name,
		url.PathEscape(url.PathEscape(strings.TrimPrefix(repo, p.Name+"/"))), a.Digest, req.Name))
}

// deleteTag: DELETE .../artifacts/{reference}/tags/{tag_name}.
func (s *Server) deleteTag(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkDelete(); err != nil {
		return err
	}
	p, repo, a, err := s.artifactFor(r, rbac.DeleteTag)
	if err != nil {
		return err
	}
	name := r.PathValue("tag_name")
	found := false
	for _, t := range a.Tags {
		found = found || t.Name == name
	}
	if !found {
		return errNotFound(fmt.Sprintf("tag %s not found on artifact %s", name, a.Digest))
	}
	if err := s.opt.Store.DeleteTag(r.Context(), repo, name); err != nil {
		return err
	}
	s.record(r.Context(), r, "delete", "tag", repo+":"+name, p)
	return ok(w)
}
