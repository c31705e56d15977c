package api

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// maxRepoDescription bounds a repository's description (Harbor's is an
// unbounded text).
const maxRepoDescription = 64 << 10

// listAllRepositories: GET /repositories, the repositories of every
// project the caller may list repositories of: all for system
// administrators, the public projects and their own for users, the
// public projects and those they are granted repository listing in for
// robots, the public projects for anonymous callers.
func (s *Server) listAllRepositories(w http.ResponseWriter, r *http.Request) error {
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	q := meta.RepoQuery{ListQuery: lq}
	switch id := auth.FromContext(r.Context()); {
	case id.Kind == auth.UserKind && id.SysAdmin:
		q.All = true
	case id.Kind == auth.UserKind:
		q.MemberOf = id.UserID
	case id.Kind == auth.RobotKind && id.Robot != nil:
		q.All, q.ProjectIDs = robotRepoScope(id.Robot)
	}
	list, total, err := s.opt.Catalog.AllRepositories(r.Context(), q)
	if err != nil {
		return err
	}
	return writeList(w, r, lq.Page, total, list, func(ri *meta.RepoInfo) repository { return repositoryJSON(ri.ProjectID, *ri) })
}

// robotRepoScope is where a robot may list repositories by its grants (as
// auth.Authenticator.Subject reads them): every project for a system
// robot granted it in "*", or the projects listed.
func robotRepoScope(rb *meta.Robot) (all bool, projectIDs []int64) {
	for _, perm := range rb.Permissions {
		if !slices.Contains(perm.Actions, string(rbac.ListRepos)) {
			continue
		}
		switch {
		case rb.Level == "project" && (perm.Project == "*" || perm.ProjectID == rb.ProjectID):
			projectIDs = append(projectIDs, rb.ProjectID)
		case rb.Level == "project":
		case perm.Project == "*":
			all = true
		case perm.ProjectID != 0:
			projectIDs = append(projectIDs, perm.ProjectID)
		}
	}
	return all, projectIDs
}

// updateRepository: PUT /projects/{project_name}/repositories/{repository_name}
// with Harbor's Repository: only the description is written (Harbor
// ignores the other fields too). Harbor stores the description
// HTML-escaped; berth stores it as given, and whoever renders it escapes
// it (berth's UI does).
func (s *Server) updateRepository(w http.ResponseWriter, r *http.Request) error {
	p, repo, err := s.repoFor(r, rbac.UpdateRepo)
	if err != nil {
		return err
	}
	var req struct {
		Description string `json:"description"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if len(req.Description) > maxRepoDescription {
		return errBadRequest(fmt.Sprintf("the description is longer than %d bytes", maxRepoDescription))
	}
	if err := s.opt.Catalog.SetRepositoryDescription(r.Context(), repo, req.Description); isNotFound(err) {
		return errNotFound(fmt.Sprintf("repository %s not found", repo))
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "update", "repository", repo, p)
	return ok(w)
}
