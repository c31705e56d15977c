package api

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// artifact is Harbor's Artifact. Harbor keeps what it derives from an
// artifact's manifest and config in its database at push; berth derives it
// when asked (the /v2 push path does no extra work), from the manifest body
// and, for extra_attrs, the config blob. Fields Harbor omits when empty are
// omitted; scan_overview and sbom_overview are set when asked for and the
// artifact was scanned (scan.go).
type artifact struct {
	ID                int64                   `json:"id"`
	Type              string                  `json:"type"`
	MediaType         string                  `json:"media_type"`
	ManifestMediaType string                  `json:"manifest_media_type"`
	ArtifactType      string                  `json:"artifact_type,omitempty"`
	ProjectID         int64                   `json:"project_id"`
	RepositoryID      int64                   `json:"repository_id"`
	RepositoryName    string                  `json:"repository_name"`
	Digest            string                  `json:"digest"`
	Size              int64                   `json:"size"`
	Icon              string                  `json:"icon,omitempty"` // iconOf its type
	PushTime          harborTime              `json:"push_time"`
	PullTime          harborTime              `json:"pull_time"`
	ExtraAttrs        map[string]any          `json:"extra_attrs,omitempty"`
	Annotations       map[string]string       `json:"annotations,omitempty"`
	References        []reference             `json:"references"`
	Tags              []tag                   `json:"tags"`
	AdditionLinks     map[string]additionLink `json:"addition_links,omitempty"`
	// Labels: the artifact's with with_label=true, [] otherwise.
	Labels      []label     `json:"labels"`
	Accessories []accessory `json:"accessories"`
	// InheritedAccessories: the signatures of the indexes that reference
	// the artifact (with_inherited_accessory), omitted otherwise.
	InheritedAccessories []accessory `json:"inherited_accessories,omitempty"`
	// ScanOverview and SBOMOverview: with_scan_overview and
	// with_sbom_overview (scan.go).
	ScanOverview map[string]nativeReportSummary `json:"scan_overview,omitempty"`
	SBOMOverview *sbomOverview                  `json:"sbom_overview,omitempty"`
}

// tag is Harbor's Tag. Immutable is set with with_immutable_status=true
// (markImmutable), false otherwise as in Harbor.
type tag struct {
	ID           int64      `json:"id"`
	RepositoryID int64      `json:"repository_id"`
	ArtifactID   int64      `json:"artifact_id"`
	Name         string     `json:"name"`
	PushTime     harborTime `json:"push_time"`
	PullTime     harborTime `json:"pull_time"`
	Immutable    bool       `json:"immutable"`
}

// reference is Harbor's Reference: a child of an index.
type reference struct {
	ParentID    int64             `json:"parent_id"`
	ChildID     int64             `json:"child_id"`
	ChildDigest string            `json:"child_digest"`
	Platform    *platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	URLs        []string          `json:"urls"`
}

// platform is Harbor's Platform. Harbor's swagger names two properties
// with quotes inside ('os.version', 'os.features'); the code generated from
// it carries those names as JSON tags, which encoding/json refuses and
// replaces by the Go field names. So Harbor sends OsVersion and OsFeatures,
// and its Go clients decode them (case-insensitively): berth does the same.
type platform struct {
	Architecture string   `json:"architecture,omitempty"`
	OS           string   `json:"os,omitempty"`
	OSVersion    string   `json:"OsVersion,omitempty"`
	OSFeatures   []string `json:"OsFeatures"`
	Variant      string   `json:"variant,omitempty"`
}

// additionLink is Harbor's AdditionLink.
type additionLink struct {
	Href     string `json:"href"`
	Absolute bool   `json:"absolute"`
}

// stableID gives rows without a numeric key (artifacts, tags and
// accessories are keyed by name and digest) a stable id that fits
// a JSON number: the same artifact has the same id on every replica and
// after a restart. (SQLite's rowid is no such id: VACUUM may renumber it,
// and PostgreSQL has none.) No operation takes these ids as input.
func stableID(parts ...string) int64 {
	h := fnv.New64a()
	h.Write([]byte(strings.Join(parts, "\x00")))
	return int64(h.Sum64() & (1<<53 - 1))
}

func artifactID(repo string, d digest.Digest) int64 { return stableID(repo, string(d)) }

// artifactOptions are the with_* parameters of getArtifact and
// listArtifacts. Harbor's defaults (its swagger's, which go-swagger's
// binder applies before the handler sees them): tags yes, the rest no.
type artifactOptions struct {
	tags, accessories, inherited, labels bool
	immutable                            bool // with_immutable_status: see markImmutable
	scanOverview, sbomOverview           bool // see addScanOverviews
}

// artifactOptionsOf reads the with_* parameters; a value that is not a
// boolean is 400 (Harbor answers 422). with_signature is accepted and
// changes nothing.
func artifactOptionsOf(r *http.Request) (artifactOptions, error) {
	o := artifactOptions{tags: true}
	var ignored bool
	for _, p := range []struct {
		name string
		dst  *bool
	}{
		{"with_tag", &o.tags}, {"with_accessory", &o.accessories}, {"with_inherited_accessory", &o.inherited},
		{"with_label", &o.labels}, {"with_immutable_status", &o.immutable}, {"with_signature", &ignored},
		{"with_scan_overview", &o.scanOverview}, {"with_sbom_overview", &o.sbomOverview},
	} {
		v := r.URL.Query().Get(p.name)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, errBadRequest(p.name + " must be true or false")
		}
		*p.dst = b
	}
	return o, nil
}

// manifestDoc is what the API reads from a manifest or index body.
type manifestDoc struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Config       *oci.Descriptor   `json:"config"`
	Layers       []oci.Descriptor  `json:"layers"`
	Manifests    []indexEntry      `json:"manifests"`
	Annotations  map[string]string `json:"annotations"`
}

type indexEntry struct {
	oci.Descriptor
	Platform *struct {
		Architecture string   `json:"architecture"`
		OS           string   `json:"os"`
		OSVersion    string   `json:"os.version"`
		OSFeatures   []string `json:"os.features"`
		Variant      string   `json:"variant"`
	} `json:"platform"`
}

// Media and artifact types Harbor gives a processor (and so a type).
const (
	mtImageConfig       = "application/vnd.oci.image.config.v1+json"
	mtDockerConfig      = "application/vnd.docker.container.image.v1+json"
	mtHelmConfig        = "application/vnd.cncf.helm.config.v1+json"
	mtHelmChart         = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	mtCNAB              = "application/vnd.cnab.manifest.v1"
	mtHarborSBOM        = "application/vnd.goharbor.harbor.sbom.v1"
	mtWASMConfig        = "application/vnd.wasm.config.v1+json"
	mtCNAIModel         = "application/vnd.cncf.model.manifest.v1+json"
	annotationArtifact  = "org.opencontainers.artifactType" // CNAB's index media type
	annotationWASMVar   = "module.wasm.image/variant"
	annotationWASMHandl = "run.oci.handler"
)

// defaultTypeRE is Harbor's default processor's rule: the type is the part
// of a config media type application/vnd.X.TYPE.config.Y+json.
var defaultTypeRE = regexp.MustCompile(`^application/vnd\.[^.]*\.(.*)\.config\.[^.]*\+json$`)

// kind is how berth describes an artifact, after Harbor's processors.
type kind struct {
	typ       string   // Harbor's artifact type: IMAGE, CHART, …
	mediaType string   // Harbor's media_type
	attrs     attrKind // where extra_attrs come from
	additions []string // the additions it has
}

type attrKind uint8

const (
	attrsNone      attrKind = iota
	attrsImage              // an image config: architecture, os, config, author, created
	attrsConfigMap          // the whole config JSON (charts and other typed configs)
	attrsWASM               // wasm-to-oci: from the manifest
)

// Additions (Harbor's names in the path, lower case).
const (
	additionBuildHistory = "build_history"
	additionValues       = "values.yaml"
	additionReadme       = "readme.md"
	additionDependencies = "dependencies"
)

// kindOf decides an artifact's kind as Harbor does: by its artifact type
// if it has one (a manifest's artifactType, else its config's media type;
// an index's artifactType), else by its media type (an index's).
func kindOf(doc *manifestDoc, manifestMediaType, artifactType string) kind {
	var k kind
	isIndex := oci.IsIndexType(manifestMediaType)
	switch {
	case isIndex:
		k.mediaType = manifestMediaType
		if v := doc.Annotations[annotationArtifact]; v != "" {
			k.mediaType = v
		}
	case doc.Config != nil:
		k.mediaType = doc.Config.MediaType
		if doc.Annotations[annotationWASMVar] == "compat" || doc.Annotations[annotationWASMHandl] == "wasm" {
			k.mediaType = mtWASMConfig
		}
	default:
		k.mediaType = manifestMediaType
	}
	resolved := artifactType
	if resolved == "" {
		resolved = k.mediaType
	}
	switch resolved {
	case mtImageConfig, mtDockerConfig:
		k.typ, k.attrs, k.additions = "IMAGE", attrsImage, []string{additionBuildHistory}
	case oci.MediaTypeImageIndex, oci.MediaTypeDockerManifestList:
		k.typ = "IMAGE"
	case mtHelmConfig:
		k.typ, k.attrs, k.additions = "CHART", attrsConfigMap, []string{additionDependencies, additionReadme, additionValues}
	case mtCNAB:
		k.typ = "CNAB"
	case mtHarborSBOM:
		k.typ, k.attrs = "SBOM", attrsConfigMap
	case mtWASMConfig:
		k.typ, k.attrs, k.additions = "WASM", attrsWASM, []string{additionBuildHistory}
	case mtCNAIModel:
		k.typ = "CNAI"
	default:
		k.typ = "UNKNOWN"
		if m := defaultTypeRE.FindStringSubmatch(k.mediaType); m != nil {
			k.typ = strings.ToUpper(m[1])
			if !isIndex {
				k.attrs = attrsConfigMap
			}
		}
	}
	return k
}

// repoPathSegment is a repository's name inside its project as Harbor's
// links spell it: '/' as %252F.
func repoPathSegment(p *meta.Project, repo string) string {
	return url.PathEscape(url.PathEscape(strings.TrimPrefix(repo, p.Name+"/")))
}

// maxEmbeddedAccessories bounds the accessories listed inside an artifact
// (listAccessories pages through all of them).
const maxEmbeddedAccessories = 100

// artifactChunk is how many artifacts artifactsJSON describes at a time,
// so that a long list (page_size=0) does not hold every manifest body at
// once.
const artifactChunk = 100

// artifactsJSON describes arts of repo in Harbor's shape, a chunk at a
// time: per chunk, one query for the bodies, one for the sizes of the
// indexes' children, then the configs that extra_attrs need, read
// concurrently.
func (s *Server) artifactsJSON(ctx context.Context, p *meta.Project, repo string, arts []meta.ArtifactInfo, o artifactOptions) ([]artifact, error) {
	out := make([]artifact, 0, len(arts))
	for len(arts) > 0 {
		chunk := arts[:min(len(arts), artifactChunk)]
		arts = arts[len(chunk):]
		part, err := s.artifactChunkJSON(ctx, p, repo, chunk, o)
		if err != nil {
			return nil, err
		}
		out = append(out, part...)
	}
	return out, s.addScanOverviews(ctx, out, o)
}

// projectArtifactsJSON describes artifacts of several repositories of p
// (listArtifactsOfProject), in their order, each repository's together.
func (s *Server) projectArtifactsJSON(ctx context.Context, p *meta.Project, list []meta.ProjectArtifact, o artifactOptions) ([]artifact, error) {
	byRepo := map[string][]int{}
	var repos []string
	for i := range list {
		if byRepo[list[i].Repo] == nil {
			repos = append(repos, list[i].Repo)
		}
		byRepo[list[i].Repo] = append(byRepo[list[i].Repo], i)
	}
	out := make([]artifact, len(list))
	for _, repo := range repos {
		arts := make([]meta.ArtifactInfo, len(byRepo[repo]))
		for j, i := range byRepo[repo] {
			arts[j] = list[i].ArtifactInfo
		}
		described, err := s.artifactsJSON(ctx, p, repo, arts, o)
		if err != nil {
			return nil, err
		}
		for j, i := range byRepo[repo] {
			out[i] = described[j]
		}
	}
	return out, nil
}

func (s *Server) artifactChunkJSON(ctx context.Context, p *meta.Project, repo string, arts []meta.ArtifactInfo, o artifactOptions) ([]artifact, error) {
	ds := make([]digest.Digest, len(arts))
	for i := range arts {
		ds[i] = arts[i].Digest
	}
	details, err := s.opt.Catalog.ManifestDetails(ctx, repo, ds, true)
	if err != nil {
		return nil, err
	}
	bodies := make(map[digest.Digest][]byte, len(details))
	for _, d := range details {
		bodies[d.Digest] = d.Body
	}
	docs := make([]manifestDoc, len(arts))
	var children []digest.Digest
	for i := range arts {
		// A body that does not parse (it was validated at push) leaves
		// only what the database knows.
		_ = json.Unmarshal(bodies[arts[i].Digest], &docs[i])
		for _, c := range docs[i].Manifests {
			children = append(children, c.Digest)
		}
	}
	childSize := map[digest.Digest]int64{}
	if len(children) > 0 {
		cs, err := s.opt.Catalog.ManifestDetails(ctx, repo, children, false)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			childSize[c.Digest] = c.Size
		}
	}
	out := make([]artifact, len(arts))
	kinds := make([]kind, len(arts))
	for i := range arts {
		kinds[i] = kindOf(&docs[i], arts[i].MediaType, arts[i].ArtifactType)
		out[i] = s.artifactBase(p, repo, &arts[i], &docs[i], kinds[i], childSize, o)
	}
	s.fillExtraAttrs(ctx, repo, docs, kinds, out)
	if o.labels {
		if err := s.fillLabels(ctx, repo, out); err != nil {
			return nil, err
		}
	}
	if o.accessories || o.inherited {
		for i := range out {
			if err := s.fillAccessories(ctx, repo, &out[i], o); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// artifactBase is what the manifest and the database say of a.
func (s *Server) artifactBase(p *meta.Project, repo string, a *meta.ArtifactInfo, doc *manifestDoc, k kind,
	childSize map[digest.Digest]int64, o artifactOptions) artifact {
	id := artifactID(repo, a.Digest)
	out := artifact{ID: id, Type: k.typ, MediaType: k.mediaType, ManifestMediaType: a.MediaType, ArtifactType: a.ArtifactType,
		ProjectID: p.ID, RepositoryID: a.RepositoryID, RepositoryName: repo, Digest: string(a.Digest), Size: a.Size, Icon: iconOf(k.typ),
		PushTime: harborTime(a.PushedAt), PullTime: harborTime(a.PulledAt), Annotations: doc.Annotations, Labels: []label{}}
	for _, c := range doc.Manifests {
		ref := reference{ParentID: id, ChildID: artifactID(repo, c.Digest), ChildDigest: string(c.Digest),
			Annotations: c.Annotations, URLs: c.URLs}
		if pl := c.Platform; pl != nil {
			ref.Platform = &platform{Architecture: pl.Architecture, OS: pl.OS, OSVersion: pl.OSVersion,
				OSFeatures: pl.OSFeatures, Variant: pl.Variant}
		}
		out.References = append(out.References, ref)
		out.Size += childSize[c.Digest] // Harbor: an index's size includes its children's
	}
	if o.tags {
		out.Tags = tagsJSON(repo, a)
	}
	for _, add := range k.additions {
		if out.AdditionLinks == nil {
			out.AdditionLinks = map[string]additionLink{}
		}
		out.AdditionLinks[add] = additionLink{Href: Prefix + "/projects/" + p.Name + "/repositories/" +
			repoPathSegment(p, repo) + "/artifacts/" + string(a.Digest) + "/additions/" + add}
	}
	return out
}

func tagsJSON(repo string, a *meta.ArtifactInfo) []tag {
	id := artifactID(repo, a.Digest)
	out := make([]tag, 0, len(a.Tags))
	for _, t := range a.Tags {
		out = append(out, tag{ID: stableID(repo, t.Name), RepositoryID: a.RepositoryID, ArtifactID: id, Name: t.Name,
			PushTime: harborTime(t.PushedAt), PullTime: harborTime(t.PulledAt)})
	}
	return out
}

// fillAccessories adds the accessories of a (with_accessory) and the
// signatures of the indexes that reference it (with_inherited_accessory:
// only for an artifact without a signature of its own, as Harbor).
func (s *Server) fillAccessories(ctx context.Context, repo string, a *artifact, o artifactOptions) error {
	d := digest.Digest(a.Digest)
	page := meta.ListQuery{Page: meta.Page{Page: 1, Size: maxEmbeddedAccessories}}
	own, _, err := s.opt.Catalog.Accessories(ctx, repo, d, page)
	if err != nil {
		return err
	}
	if o.accessories {
		a.Accessories = accessoriesJSON(repo, own)
	}
	if !o.inherited {
		return nil
	}
	for _, acc := range own {
		if isSignature(acc.Type) {
			return nil
		}
	}
	parents, err := s.opt.Catalog.ParentIndexes(ctx, repo, d, maxEmbeddedAccessories)
	if err != nil {
		return err
	}
	signatures := page.With(meta.Cond{Key: "type", Op: meta.AnyOf, Values: []string{meta.AccessoryCosign, meta.AccessoryNotation}})
	for _, parent := range parents {
		accs, _, err := s.opt.Catalog.Accessories(ctx, repo, parent, signatures)
		if err != nil {
			return err
		}
		a.InheritedAccessories = append(a.InheritedAccessories, accessoriesJSON(repo, accs)...)
	}
	return nil
}

func isSignature(typ string) bool {
	return typ == meta.AccessoryCosign || typ == meta.AccessoryNotation
}
