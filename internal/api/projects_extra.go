package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// settingsOf reads p's settings; a project deleted meanwhile is missing.
func (s *Server) settingsOf(r *http.Request, p *meta.Project) (*meta.ProjectSettings, error) {
	all, err := s.opt.Access.ProjectSettings(r.Context(), p.ID)
	if err != nil {
		return nil, err
	}
	if ps := all[p.ID]; ps != nil {
		return ps, nil
	}
	return nil, errProjectNotFound(r.PathValue("project_name_or_id"))
}

// listProjectMetadatas: GET /projects/{project_name_or_id}/metadatas/.
func (s *Server) listProjectMetadatas(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.ReadMetadata)
	if err != nil {
		return err
	}
	ps, err := s.settingsOf(r, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, metadataJSON(p, ps))
}

// metaName reads {meta_name}: a key of Harbor's ProjectMetadata.
func metaName(r *http.Request) (string, error) {
	name := r.PathValue("meta_name")
	if _, known := projectMetadataKeys[name]; !known {
		_, err := checkMetadata(name, "")
		return "", err
	}
	return name, nil
}

func errMetadataNotFound(r *http.Request, name string) error {
	return errNotFound(fmt.Sprintf("metadata %s not found in project %s", name, r.PathValue("project_name_or_id")))
}

// getProjectMetadata: GET /projects/{project_name_or_id}/metadatas/{meta_name}
// answers {meta_name: value}; 404 for a key the project does not have
// (Harbor answers {}).
func (s *Server) getProjectMetadata(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.ReadMetadata)
	if err != nil {
		return err
	}
	name, err := metaName(r)
	if err != nil {
		return err
	}
	ps, err := s.settingsOf(r, p)
	if err != nil {
		return err
	}
	v, ok := metadataJSON(p, ps)[name]
	if !ok {
		return errMetadataNotFound(r, name)
	}
	return writeJSON(w, http.StatusOK, projectMetadata{name: v})
}

// onePair reads a metadata body: exactly one key and its value, as Harbor
// requires of the per-key operations.
func onePair(r *http.Request) (string, string, error) {
	var body map[string]string
	if err := readJSON(r, &body); err != nil {
		return "", "", err
	}
	if len(body) == 1 {
		for k, v := range body {
			return k, v, nil
		}
	}
	return "", "", errBadRequest("only allow one key/value pair")
}

// addProjectMetadatas: POST /projects/{project_name_or_id}/metadatas/ adds
// one key; 409 if the project has it (public always exists).
func (s *Server) addProjectMetadatas(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.WriteMetadata)
	if err != nil {
		return err
	}
	k, v, err := onePair(r)
	if err != nil {
		return err
	}
	val, err := checkMetadata(k, v)
	if err != nil {
		return err
	}
	conflict := errConflict(fmt.Sprintf("metadata %s already exists for project %s", k, p.Name))
	switch k {
	case "public":
		return conflict
	case "retention_id":
		return errRetentionID()
	}
	err = s.opt.Access.ChangeProject(r.Context(), p.ID, meta.ProjectChange{Metadata: map[string]string{k: val}, AddOnly: true})
	switch {
	case isNotFound(err):
		return errProjectNotFound(r.PathValue("project_name_or_id"))
	case errors.Is(err, meta.ErrConflict):
		return conflict
	case err != nil:
		return err
	}
	s.record(r.Context(), r, "create", "project_metadata", p.Name+":"+k, p)
	return ok(w)
}

// updateProjectMetadata: PUT /projects/{project_name_or_id}/metadatas/{meta_name}
// with {meta_name: value}. A key the project does not have yet is added
// (Harbor answers 200 and stores nothing).
func (s *Server) updateProjectMetadata(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.WriteMetadata)
	if err != nil {
		return err
	}
	name, err := metaName(r)
	if err != nil {
		return err
	}
	k, v, err := onePair(r)
	if err != nil {
		return err
	}
	if k != name {
		return errBadRequest(fmt.Sprintf("the body must hold the key %s, not %s", name, k))
	}
	val, err := checkMetadata(k, v)
	if err != nil {
		return err
	}
	var c meta.ProjectChange
	switch k {
	case "public":
		c.Public = new(val == "true")
	case "retention_id":
		return errRetentionID()
	default:
		c.Metadata = map[string]string{k: val}
	}
	if err := s.changeProject(r, p, c); err != nil {
		return err
	}
	s.record(r.Context(), r, "update", "project_metadata", p.Name+":"+k, p)
	return ok(w)
}

// deleteProjectMetadata: DELETE /projects/{project_name_or_id}/metadatas/{meta_name};
// 404 for a key the project does not have (Harbor answers 200). public
// cannot be removed (it is the project's flag: set it to "false"), nor
// retention_id (it goes with the retention policy).
func (s *Server) deleteProjectMetadata(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.WriteMetadata)
	if err != nil {
		return err
	}
	name, err := metaName(r)
	if err != nil {
		return err
	}
	switch name {
	case "public":
		return errBadRequest(`metadata public cannot be removed: set it to "false"`)
	case "retention_id":
		return errBadRequest("metadata retention_id is removed with the project's retention policy")
	}
	if err := s.opt.Access.DeleteProjectMetadata(r.Context(), p.ID, name); isNotFound(err) {
		return errMetadataNotFound(r, name)
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "delete", "project_metadata", p.Name+":"+name, p)
	return ok(w)
}

// projectSummary is Harbor's ProjectSummary. Member counts are shown to
// those who may list members, the quota to members (Harbor's quota read);
// registry is a proxy cache project's, so always null for now.
type projectSummary struct {
	RepoCount         int64         `json:"repo_count"`
	ProjectAdminCount int64         `json:"project_admin_count,omitempty"`
	MaintainerCount   int64         `json:"maintainer_count,omitempty"`
	DeveloperCount    int64         `json:"developer_count,omitempty"`
	GuestCount        int64         `json:"guest_count,omitempty"`
	LimitedGuestCount int64         `json:"limited_guest_count,omitempty"`
	Quota             *summaryQuota `json:"quota,omitempty"`
	Registry          *struct{}     `json:"registry"`
}

// summaryQuota is Harbor's ProjectSummaryQuota: ResourceLists by resource
// name, "storage" in bytes (hard -1: unlimited).
type summaryQuota struct {
	Hard map[string]int64 `json:"hard"`
	Used map[string]int64 `json:"used"`
}

// getProjectSummary: GET /projects/{project_name_or_id}/summary. The
// quota's used storage is the one the store keeps exactly and enforces
// (meta/quota.go), as GET /quotas/{id} shows it.
func (s *Server) getProjectSummary(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.ReadProject)
	if err != nil {
		return err
	}
	sub, _, err := s.opt.Auth.Subject(r.Context(), auth.FromContext(r.Context()), p.Name)
	if err != nil {
		return err
	}
	out := projectSummary{}
	if out.RepoCount, err = s.opt.Catalog.RepositoryCount(r.Context(), p.Name); err != nil {
		return err
	}
	if rbac.Allowed(sub, rbac.ReadMembers) {
		counts, err := s.opt.Access.ProjectMemberCounts(r.Context(), p.ID)
		if err != nil {
			return err
		}
		out.ProjectAdminCount, out.MaintainerCount = counts[int(rbac.RoleProjectAdmin)], counts[int(rbac.RoleMaintainer)]
		out.DeveloperCount, out.GuestCount = counts[int(rbac.RoleDeveloper)], counts[int(rbac.RoleGuest)]
		out.LimitedGuestCount = counts[int(rbac.RoleLimitedGuest)]
	}
	if rbac.Allowed(sub, rbac.ReadQuota) {
		ps, err := s.settingsOf(r, p)
		if err != nil {
			return err
		}
		used, err := s.opt.Access.ProjectStorageUsed(r.Context(), p.Name)
		if err != nil {
			return err
		}
		out.Quota = &summaryQuota{Hard: map[string]int64{"storage": ps.StorageLimit}, Used: map[string]int64{"storage": used}}
	}
	return writeJSON(w, http.StatusOK, out)
}

// projectDeletable is Harbor's ProjectDeletable.
type projectDeletable struct {
	Deletable bool   `json:"deletable"`
	Message   string `json:"message"`
}

// errNotDeletable is why a project cannot be deleted (Harbor's words).
const errNotDeletable = "the project contains repositories, can not be deleted"

// getProjectDeletable: GET /projects/{project_name_or_id}/_deletable, for
// those who may delete the project. Harbor also refuses while replication
// policies use the project; berth has none yet.
func (s *Server) getProjectDeletable(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.WriteProject)
	if err != nil {
		return err
	}
	n, err := s.opt.Catalog.RepositoryCount(r.Context(), p.Name)
	if err != nil {
		return err
	}
	out := projectDeletable{Deletable: n == 0}
	if n > 0 {
		out.Message = errNotDeletable
	}
	return writeJSON(w, http.StatusOK, out)
}

// boolParam reads an optional boolean query parameter.
func boolParam(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errBadRequest(name + " must be true or false")
	}
	return b, nil
}

// listArtifactsOfProject: GET /projects/{project_name_or_id}/artifacts,
// the top-level artifacts of all the project's repositories, newest first,
// with repository_name set. q and sort take the keys of a repository's
// artifact list and repository_name; latest_in_repository keeps the newest
// match of each repository and, as in Harbor, needs exactly one of
// media_type and artifact_type in q. The with_* parameters are those of
// a repository's artifact list (with_immutable_status marks the immutable
// tags). As in Harbor, anonymous callers are refused even in a public
// project.
func (s *Server) listArtifactsOfProject(w http.ResponseWriter, r *http.Request) error {
	if auth.FromContext(r.Context()).Kind == auth.Anonymous {
		return errUnauthorized("authentication required to list the artifacts of a project")
	}
	p, err := s.projectFor(r, "project_name_or_id", rbac.ListRepos)
	if err != nil {
		return err
	}
	q := meta.ProjectArtifactQuery{}
	if q.ListQuery, err = listQuery(r); err != nil {
		return err
	}
	withTag, err := boolParam(r, "with_tag", true)
	if err != nil {
		return err
	}
	q.WithoutTags = !withTag
	if q.LatestInRepository, err = boolParam(r, "latest_in_repository", false); err != nil {
		return err
	}
	if q.LatestInRepository {
		var types int
		for _, c := range q.Where {
			if c.Key == "media_type" || c.Key == "artifact_type" {
				types++
			}
		}
		if types != 1 {
			return errBadRequest("either 'media_type' or 'artifact_type' must be specified, but not both, when querying with latest_in_repository")
		}
	}
	o, err := artifactOptionsOf(r)
	if err != nil {
		return err
	}
	list, total, err := s.opt.Access.ProjectArtifacts(r.Context(), p.Name, q)
	if err != nil {
		return err
	}
	out, err := s.projectArtifactsJSON(r.Context(), p, list, o)
	if err != nil {
		return err
	}
	if err := s.markImmutable(r.Context(), p, out, o.immutable); err != nil {
		return err
	}
	setPaging(w, r, q.Page, total)
	return writeJSON(w, http.StatusOK, out)
}
