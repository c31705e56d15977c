package api

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
)

// SystemOptions is what the system resources (/systeminfo and below,
// /statistics, /configurations) report about the deployment, and the
// run-time settings.
type SystemOptions struct {
	// Settings are the settings administrators change at run time; nil:
	// the defaults, which cannot be changed.
	Settings *settings.Settings
	// Blobs is the blob store. If it can tell its filesystem's capacity
	// (the local directory can), /systeminfo/volumes reports it.
	Blobs blob.Store
	// StorageProvider names the blob storage: "filesystem" or "s3".
	StorageProvider string
	// TLSCertFile is the PEM certificate chain berth serves (--tls-cert);
	// /systeminfo/getcert serves its CA. "" (plain HTTP, or ACME): none.
	TLSCertFile string
	// TokenTTL is the lifetime of registry tokens (--token-ttl).
	TokenTTL time.Duration
}

func (s *Server) storageProvider() string {
	if s.opt.System.StorageProvider == "" {
		return "filesystem"
	}
	return s.opt.System.StorageProvider
}

// checkWritable refuses changes in read-only mode, as Harbor does (403
// DENIED), except to the settings themselves, so the mode can be left.
func (s *Server) checkWritable(r *http.Request) error {
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions:
		return nil
	case r.Method == http.MethodPut && r.URL.Path == Prefix+"/configurations":
		return nil
	case s.opt.System.Settings.ReadOnly():
		return &Error{Status: http.StatusForbidden, Code: "DENIED", Message: "The system is in read only mode. Any modification is prohibited."}
	}
	return nil
}

// ping: GET /ping answers "Pong" in plain text and checks nothing else.
// Anyone may call it; as on every operation, credentials that are sent
// must be right (Harbor skips authentication here, so bad ones still get
// Pong there).
func (s *Server) ping(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := w.Write([]byte("Pong"))
	return err
}

// statistic is Harbor's Statistic.
type statistic struct {
	PrivateProjectCount     int64 `json:"private_project_count"`
	PrivateRepoCount        int64 `json:"private_repo_count"`
	PublicProjectCount      int64 `json:"public_project_count"`
	PublicRepoCount         int64 `json:"public_repo_count"`
	TotalProjectCount       int64 `json:"total_project_count"`
	TotalRepoCount          int64 `json:"total_repo_count"`
	TotalStorageConsumption int64 `json:"total_storage_consumption"`
}

// getStatistic: GET /statistics, as Harbor counts: every caller sees the
// public projects and their repositories; a system administrator also
// every private one, the totals and the storage used; a user the private
// projects they are a member of (no totals, no storage); a robot only the
// public ones.
func (s *Server) getStatistic(w http.ResponseWriter, r *http.Request) error {
	id := auth.FromContext(r.Context())
	if id.Kind == auth.Anonymous {
		return errUnauthorized("authentication required to read statistics")
	}
	q := meta.StatisticsQuery{AllPrivate: id.SysAdmin, Storage: id.SysAdmin}
	if !id.SysAdmin && id.Kind == auth.UserKind {
		q.MemberOf = id.UserID
	}
	st, err := s.opt.Catalog.Statistics(r.Context(), q)
	if err != nil {
		return err
	}
	out := statistic{PrivateProjectCount: st.PrivateProjects, PrivateRepoCount: st.PrivateRepos,
		PublicProjectCount: st.PublicProjects, PublicRepoCount: st.PublicRepos}
	if id.SysAdmin {
		out.TotalProjectCount, out.TotalRepoCount = st.PublicProjects+st.PrivateProjects, st.PublicRepos+st.PrivateRepos
		out.TotalStorageConsumption = st.Storage
	}
	return writeJSON(w, http.StatusOK, out)
}

// volume is Harbor's Storage; systemVolumes its SystemInfo.
type volume struct {
	Total uint64 `json:"total"`
	Free  uint64 `json:"free"`
}

type systemVolumes struct {
	Storage []volume `json:"storage"`
}

// getVolumes: GET /systeminfo/volumes (system administrators): the size
// and free space of the filesystem holding the blobs. An object store (S3)
// has no such size: the answer is then total 0 and free 0, what Harbor
// answers when it cannot find its storage path.
func (s *Server) getVolumes(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	var v volume
	if c, ok := s.opt.System.Blobs.(interface {
		Capacity() (total, free uint64, err error)
	}); ok {
		var err error
		if v.Total, v.Free, err = c.Capacity(); err != nil {
			return fmt.Errorf("blob storage capacity: %w", err)
		}
	}
	return writeJSON(w, http.StatusOK, systemVolumes{Storage: []volume{v}})
}

// caCert returns the PEM of the CA of berth's TLS certificate: the last
// certificate of the --tls-cert chain, if it is a CA or self-signed (a
// chain of a leaf alone, issued by a CA it does not include, has none).
// nil when berth does not serve TLS from a file.
func (s *Server) caCert() ([]byte, error) {
	if s.opt.System.TLSCertFile == "" {
		return nil, nil
	}
	data, err := os.ReadFile(s.opt.System.TLSCertFile)
	if err != nil {
		return nil, fmt.Errorf("reading the TLS certificate: %w", err)
	}
	var last *pem.Block
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			last = b
		}
	}
	if last == nil {
		return nil, nil
	}
	c, err := x509.ParseCertificate(last.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the TLS certificate: %w", err)
	}
	selfSigned := bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
	if !c.IsCA && !selfSigned {
		return nil, nil
	}
	return pem.EncodeToMemory(last), nil
}

// getCert: GET /systeminfo/getcert, the CA certificate to trust for
// berth's HTTPS (ca.crt for docker's certs.d), to anyone, as Harbor; 404
// without one (plain HTTP, ACME, or a chain without its CA).
func (s *Server) getCert(w http.ResponseWriter, _ *http.Request) error {
	ca, err := s.caCert()
	if err != nil {
		return err
	}
	if ca == nil {
		return errNotFound("no CA certificate: berth does not serve HTTPS with a certificate chain that includes its CA")
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", "attachment; filename=ca.crt")
	_, err = w.Write(ca)
	return err
}

// searchLimit bounds each list of a search (Harbor lists every match).
const searchLimit = 100

// searchRepository is Harbor's SearchRepository.
type searchRepository struct {
	ProjectID      int64  `json:"project_id"`
	ProjectName    string `json:"project_name"`
	ProjectPublic  bool   `json:"project_public"`
	RepositoryName string `json:"repository_name"`
	PullCount      int64  `json:"pull_count"`
	ArtifactCount  int64  `json:"artifact_count"`
}

// search: GET /search?q= lists the projects and the repositories the
// caller may see whose name contains q (ignoring case), at most
// searchLimit of each, by name.
func (s *Server) search(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query().Get("q")
	if q == "" {
		return errBadRequest("q is required: part of a project or repository name")
	}
	pq := meta.ProjectQuery{ListQuery: meta.ListQuery{Page: meta.Page{Page: 1, Size: searchLimit},
		Where: []meta.Cond{{Key: "name", Op: meta.Fuzzy, Values: []string{q}}}}}
	rq := meta.RepoSearch{Name: q, Limit: searchLimit}
	switch id := auth.FromContext(r.Context()); {
	case id.SysAdmin:
		rq.All = true
	case id.Kind == auth.UserKind:
		pq.VisibleTo, rq.VisibleTo = id.UserID, id.UserID
		pq.VisibleToGroups, rq.VisibleToGroups = id.Groups, id.Groups
	default: // anonymous callers and robots: public projects only
		pq.ListQuery = pq.With(meta.Cond{Key: "public", Values: []string{"true"}})
	}
	projects, _, err := s.opt.Access.ListProjects(r.Context(), pq)
	if err != nil {
		return err
	}
	out := struct {
		Project    []project          `json:"project"`
		Repository []searchRepository `json:"repository"`
	}{Project: []project{}, Repository: []searchRepository{}}
	if out.Project, err = s.projectsJSON(r.Context(), projects); err != nil {
		return err
	}
	hits, err := s.opt.Catalog.SearchRepositories(r.Context(), rq)
	if err != nil {
		return err
	}
	for _, h := range hits {
		out.Repository = append(out.Repository, searchRepository{ProjectID: h.ProjectID, ProjectName: h.Project,
			ProjectPublic: h.Public, RepositoryName: h.Name, ArtifactCount: h.ArtifactCount, PullCount: h.PullCount})
	}
	return writeJSON(w, http.StatusOK, out)
}
