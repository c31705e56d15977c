package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/events"
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
	if err := s.guard().DeleteRepository(r.Context(), repo); err != nil { // 412 if a tag is immutable
		return err
	}
	s.record(r.Context(), r, "delete", "repository", repo, p)
	s.publish(r, events.Event{Type: events.DeleteRepository, Repo: repo})
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
	o, err := artifactOptionsOf(r)
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
	out, err := s.artifactsJSON(r.Context(), p, repo, list, o)
	if err != nil {
		return err
	}
	if err := s.markImmutable(r.Context(), p, out, o.immutable); err != nil {
		return err
	}
	setPaging(w, r, lq.Page, total)
	return writeJSON(w, http.StatusOK, out)
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
	o, err := artifactOptionsOf(r)
	if err != nil {
		return err
	}
	p, repo, a, err := s.artifactFor(r, rbac.ListRepos)
	if err != nil {
		return err
	}
	out, err := s.artifactsJSON(r.Context(), p, repo, []meta.ArtifactInfo{*a}, o)
	if err != nil {
		return err
	}
	if err := s.markImmutable(r.Context(), p, out, o.immutable); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out[0])
}

// deleteArtifact: DELETE .../artifacts/{reference} removes the manifest
// and its tags; 412 if one of them is immutable, or if an index of the
// repository references it (as Harbor: it goes with its index).
func (s *Server) deleteArtifact(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkDelete(); err != nil {
		return err
	}
	p, repo, a, err := s.artifactFor(r, rbac.DeleteArtifact)
	if err != nil {
		return err
	}
	if err := s.guard().DeleteManifest(r.Context(), repo, a.Digest); err != nil {
		return err
	}
	s.record(r.Context(), r, "delete", "artifact", repo+"@"+string(a.Digest), p)
	s.publish(r, events.Event{Type: events.DeleteArtifact, Repo: repo, Digest: a.Digest, MediaType: a.MediaType, Size: a.Size})
	return ok(w)
}

// listTags: GET .../artifacts/{reference}/tags.
func (s *Server) listTags(w http.ResponseWriter, r *http.Request) error {
	p, repo, a, err := s.artifactFor(r, rbac.ListRepos)
	if err != nil {
		return err
	}
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	tags, err := queryMemory(tagsJSON(repo, a), tagKeys, "name", lq)
	if err != nil {
		return err
	}
	if err := s.markImmutableTags(r, p, repo, tags); err != nil {
		return err
	}
	setPaging(w, r, lq.Page, int64(len(tags)))
	return writeJSON(w, http.StatusOK, pageSlice(tags, lq.Page))
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
	s.publish(r, events.Event{Type: events.CreateTag, Repo: repo, Digest: a.Digest, Tags: []string{req.Name}, MediaType: a.MediaType, Size: a.Size})
	return created(w, fmt.Sprintf("%s/projects/%s/repositories/%s/artifacts/%s/tags/%s", Prefix, p.Name,
		url.PathEscape(url.PathEscape(strings.TrimPrefix(repo, p.Name+"/"))), a.Digest, req.Name))
}

// deleteTag: DELETE .../artifacts/{reference}/tags/{tag_name}; 412 if the
// tag is immutable.
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
	if err := s.guard().DeleteTag(r.Context(), repo, name); err != nil {
		return err
	}
	s.record(r.Context(), r, "delete", "tag", repo+":"+name, p)
	s.publish(r, events.Event{Type: events.DeleteTag, Repo: repo, Digest: a.Digest, Tags: []string{name}})
	return ok(w)
}
