package api

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/quota"
)

// Harbor's /quotas: one quota per project (reference "project"), whose id
// is the project's; hard.storage is its storage limit (-1 unlimited), and
// used.storage what its repositories hold, kept exactly by the store
// (meta/quota.go). As in Harbor, every /quotas operation is a system
// administrator's (src/server/v2.0/handler/quota.go: RequireSystemAccess);
// project members read their quota in the project's summary.

// quotaJSON is Harbor's Quota.
type quotaJSON struct {
	ID           int64            `json:"id"`
	Ref          quotaRef         `json:"ref"`
	Hard         map[string]int64 `json:"hard"`
	Used         map[string]int64 `json:"used"`
	CreationTime harborTime       `json:"creation_time"`
	UpdateTime   harborTime       `json:"update_time"`
}

// quotaRef is Harbor's QuotaRefObject for a project.
type quotaRef struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	OwnerName string `json:"owner_name"`
}

func quotaOf(q *meta.Quota) quotaJSON {
	return quotaJSON{ID: q.ProjectID, Ref: quotaRef{ID: q.ProjectID, Name: q.Project, OwnerName: q.OwnerName},
		Hard: map[string]int64{"storage": q.Limit}, Used: map[string]int64{"storage": q.Used},
		CreationTime: harborTime(q.CreatedAt), UpdateTime: harborTime(q.UpdatedAt)}
}

// listQuotas: GET /quotas?reference=project&reference_id=N&sort=&page=.
// Sort keys: hard.storage (unlimited as the largest), used.storage,
// creation_time, update_time; newest first by default. A reference other
// than "project", or a reference_id that is no project id, matches
// nothing, as in Harbor; unlike Harbor, an unknown sort key is a 400 and
// not ignored.
func (s *Server) listQuotas(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	var lq meta.ListQuery
	var err error
	if lq.Page, err = pageOf(r); err != nil {
		return err
	}
	if lq.Sort, err = parseSort(r.URL.Query().Get("sort")); err != nil {
		return err
	}
	q := r.URL.Query()
	if ref := q.Get("reference"); ref != "" && ref != "project" {
		return writeList(w, r, lq.Page, 0, []meta.Quota{}, quotaOf)
	}
	if id := q.Get("reference_id"); id != "" {
		if _, err := strconv.ParseInt(id, 10, 64); err != nil {
			return writeList(w, r, lq.Page, 0, []meta.Quota{}, quotaOf)
		}
		lq = lq.With(meta.Cond{Key: "reference_id", Values: []string{id}})
	}
	list, total, err := s.opt.Access.Quotas(r.Context(), lq)
	if err != nil {
		return err
	}
	return writeList(w, r, lq.Page, total, list, quotaOf)
}

// quotaFor loads {id} for a system administrator.
func (s *Server) quotaFor(r *http.Request) (*meta.Quota, error) {
	if err := requireAdmin(r); err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, errBadRequest("invalid quota id")
	}
	q, err := s.opt.Access.Quota(r.Context(), id)
	if isNotFound(err) {
		return nil, errNotFound(fmt.Sprintf("quota %d not found", id))
	}
	return q, err
}

// getQuota: GET /quotas/{id}.
func (s *Server) getQuota(w http.ResponseWriter, r *http.Request) error {
	q, err := s.quotaFor(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, quotaOf(q))
}

// quotaUpdateReq is Harbor's QuotaUpdateReq.
type quotaUpdateReq struct {
	Hard map[string]int64 `json:"hard"`
}

// updateQuota: PUT /quotas/{id} with {"hard":{"storage":N}}: N is -1
// (unlimited) or from 1 byte to 1024 TB, and may be below what the project
// uses (only further pushes are refused). storage is the only resource.
func (s *Server) updateQuota(w http.ResponseWriter, r *http.Request) error {
	q, err := s.quotaFor(r)
	if err != nil {
		return err
	}
	var req quotaUpdateReq
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if len(req.Hard) == 0 {
		return errBadRequest("hard required in body")
	}
	for _, name := range slices.Sorted(maps.Keys(req.Hard)) {
		if name != "storage" {
			return errBadRequest(fmt.Sprintf("resource %s not support", name)) // Harbor's words
		}
	}
	limit := req.Hard["storage"]
	if err := quota.CheckLimit(limit); err != nil {
		return errBadRequest(err.Error())
	}
	if err := s.opt.Access.SetStorageLimit(r.Context(), q.ProjectID, limit); isNotFound(err) {
		return errNotFound(fmt.Sprintf("quota %d not found", q.ProjectID))
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "update", "quota", q.Project+": storage "+limitText(limit), &meta.Project{ID: q.ProjectID, Name: q.Project})
	return ok(w)
}

// limitText writes a storage limit for people: "10.0 GiB", "unlimited".
func limitText(limit int64) string {
	if limit < 0 {
		return "unlimited"
	}
	return quota.FormatBytes(limit)
}
