package api

import (
	"net/http"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// accessory is Harbor's Accessory: a signature, SBOM or other manifest
// attached to an artifact (see meta.AccessoryInfo for how berth finds
// them). Icon is Harbor's icon of the type, empty for a plain subject
// accessory as in Harbor (src/pkg/accessory/model).
type accessory struct {
	ID                    int64      `json:"id"`
	ArtifactID            int64      `json:"artifact_id"`
	SubjectArtifactID     int64      `json:"subject_artifact_id"`
	SubjectArtifactDigest string     `json:"subject_artifact_digest"`
	SubjectArtifactRepo   string     `json:"subject_artifact_repo"`
	Size                  int64      `json:"size"`
	Digest                string     `json:"digest"`
	Type                  string     `json:"type"`
	Icon                  string     `json:"icon"`
	CreationTime          harborTime `json:"creation_time"`
}

func accessoryJSON(repo string, a *meta.AccessoryInfo) accessory {
	return accessory{ID: stableID("accessory", repo, string(a.Subject), string(a.Digest)),
		ArtifactID: artifactID(repo, a.Digest), SubjectArtifactID: artifactID(repo, a.Subject),
		SubjectArtifactDigest: string(a.Subject), SubjectArtifactRepo: repo, Size: a.Size, Digest: string(a.Digest),
		Type: a.Type, Icon: accessoryIcons[a.Type], CreationTime: harborTime(a.CreatedAt)}
}

// accessoryIcons are the icons of the accessory types (served by
// GET /icons/{digest}).
var accessoryIcons = map[string]string{
	meta.AccessoryCosign:     "sha256:20401d5b3a0f6dbc607c8d732eb08471af4ae6b19811a4efce8c6a724aed2882",
	meta.AccessoryNotation:   "sha256:3ac706e102bbe9362b400aa162df58135d35e66b9c3bee2165de92022d25fe34",
	meta.AccessoryHarborSBOM: "sha256:c19f80c357cd7e90d2a01b9ae3e2eb62ce447a2662bb590a19177d72d550bdae",
}

func accessoriesJSON(repo string, accs []meta.AccessoryInfo) []accessory {
	out := make([]accessory, 0, len(accs))
	for i := range accs {
		out = append(out, accessoryJSON(repo, &accs[i]))
	}
	return out
}

// listAccessories: GET .../artifacts/{reference}/accessories, with q
// (type, digest, creation_time, size) and sort on those keys, newest first
// by default. An accessory is listed under its artifact and not among the
// repository's artifacts (listArtifacts), as in Harbor.
func (s *Server) listAccessories(w http.ResponseWriter, r *http.Request) error {
	_, repo, a, err := s.artifactFor(r, rbac.ListRepos)
	if err != nil {
		return err
	}
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	list, total, err := s.opt.Catalog.Accessories(r.Context(), repo, a.Digest, lq)
	if err != nil {
		return err
	}
	return writeList(w, r, lq.Page, total, list, func(acc *meta.AccessoryInfo) accessory { return accessoryJSON(repo, acc) })
}
