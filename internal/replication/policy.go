package replication

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/berth-registry/berth/internal/jobs"
)

// Filter types of a policy (Harbor's, plus berth's platform).
const (
	FilterName     = "name"
	FilterTag      = "tag"
	FilterLabel    = "label"
	FilterResource = "resource"
	// FilterPlatform (berth's, Harbor #11937): "linux/amd64,linux/arm64"
	// copies an index with only those platforms' children — a new index,
	// so a new digest. Without it an index is copied byte for byte.
	FilterPlatform = "platform"
)

// Resource types of the resource filter.
const (
	ResourceImage    = "image"
	ResourceArtifact = "artifact"
)

// Decorations of the tag and label filters.
const (
	Matches  = "matches"
	Excludes = "excludes"
)

// Filter is Harbor's ReplicationFilter: Value is a string (a label
// filter's is a list of names).
type Filter struct {
	Type       string `json:"type"`
	Value      any    `json:"value"`
	Decoration string `json:"decoration,omitempty"`
}

// Trigger is Harbor's ReplicationTrigger.
type Trigger struct {
	Type            string           `json:"type"`
	TriggerSettings *TriggerSettings `json:"trigger_settings,omitempty"`
}

// TriggerSettings is Harbor's ReplicationTriggerSettings.
type TriggerSettings struct {
	Cron string `json:"cron"`
}

// Policy is a replication policy: Harbor's ReplicationPolicy without its
// registries (SrcRegistry, DestRegistry: ids, 0 for the local registry)
// and times, which the store keeps as columns.
type Policy struct {
	ID                        int64    `json:"-"`
	Name                      string   `json:"-"`
	SrcRegistry               int64    `json:"-"`
	DestRegistry              int64    `json:"-"`
	Enabled                   bool     `json:"-"`
	Description               string   `json:"description"`
	DestNamespace             string   `json:"dest_namespace"`
	DestNamespaceReplaceCount *int     `json:"dest_namespace_replace_count,omitempty"`
	Trigger                   *Trigger `json:"trigger,omitempty"`
	Filters                   []Filter `json:"filters"`
	ReplicateDeletion         bool     `json:"replicate_deletion"`
	Override                  bool     `json:"override"`
	// Speed is the bandwidth of one task in KB/s (0 or -1: unlimited).
	Speed                   int  `json:"speed"`
	CopyByChunk             bool `json:"copy_by_chunk"`
	SingleActiveReplication bool `json:"single_active_replication"`

	CreatedAt, UpdatedAt time.Time `json:"-"`
}

// PushMode reports whether p copies from berth to its destination.
func (p *Policy) PushMode() bool { return p.DestRegistry != 0 }

// TriggerType is p's trigger type (manual if none).
func (p *Policy) TriggerType() string {
	if p.Trigger == nil || p.Trigger.Type == "" {
		return TriggerManual
	}
	return p.Trigger.Type
}

// Validate checks p as Harbor does (src/controller/replication/model).
func (p *Policy) Validate() error {
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" || len(p.Name) > 255 {
		return invalid("name must be 1 to 255 characters")
	}
	if (p.SrcRegistry == 0) == (p.DestRegistry == 0) {
		return invalid("exactly one of src_registry and dest_registry must be set")
	}
	if p.DestNamespace != "" {
		for _, seg := range strings.Split(p.DestNamespace, "/") {
			if seg == "" || strings.Trim(seg, "abcdefghijklmnopqrstuvwxyz0123456789._-") != "" {
				return invalid("dest_namespace %q is not a valid repository path", p.DestNamespace)
			}
		}
	}
	if c := p.DestNamespaceReplaceCount; c != nil && *c < -1 {
		return invalid("dest_namespace_replace_count must be -1 or more")
	}
	switch t := p.TriggerType(); t {
	case TriggerManual:
	case TriggerScheduled:
		if p.Trigger.TriggerSettings == nil {
			return invalid("a scheduled trigger needs trigger_settings.cron")
		}
		cron := p.Trigger.TriggerSettings.Cron
		if err := jobs.ValidateCron(cron); err != nil {
			return invalid("%v", err)
		}
		if f := strings.Fields(cron); len(f) == 6 && f[1] == "*" {
			return invalid("the cron's minutes field must not be *: at most one run an hour")
		}
	case TriggerEvent:
		if p.SingleActiveReplication {
			return invalid("single_active_replication cannot go with an event_based trigger")
		}
	default:
		return invalid("trigger type %q is not manual, scheduled or event_based", t)
	}
	if p.Speed < -1 {
		return invalid("speed must be -1 or more")
	}
	seen := map[string]bool{}
	for i := range p.Filters {
		f := &p.Filters[i]
		if seen[f.Type] {
			return invalid("two %s filters", f.Type)
		}
		seen[f.Type] = true
		if err := f.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (f *Filter) validate() error {
	switch f.Type {
	case FilterName, FilterTag, FilterResource, FilterPlatform:
		s, ok := f.Value.(string)
		if !ok {
			return invalid("the %s filter's value must be a string", f.Type)
		}
		if f.Type == FilterResource && s != "" && s != ResourceImage && s != ResourceArtifact {
			return invalid("the resource filter is image or artifact")
		}
		if (f.Type == FilterName || f.Type == FilterTag) && !doublestar.ValidatePattern(s) {
			return invalid("the %s filter's pattern %q is malformed", f.Type, s)
		}
		if f.Type == FilterPlatform {
			for _, pl := range strings.Split(s, ",") {
				if os, arch, ok := strings.Cut(strings.TrimSpace(pl), "/"); !ok || os == "" || arch == "" {
					return invalid("the platform filter is a list of os/arch[/variant] (got %q)", s)
				}
			}
		}
	case FilterLabel:
		if _, ok := f.labels(); !ok {
			return invalid("the label filter's value must be a list of label names")
		}
	default:
		return invalid("filter type %q is not name, tag, label, resource or platform", f.Type)
	}
	switch f.Decoration {
	case "":
		f.Decoration = ""
		if f.Type == FilterTag || f.Type == FilterLabel {
			f.Decoration = Matches
		}
	case Matches, Excludes:
		if f.Type != FilterTag && f.Type != FilterLabel {
			return invalid("only the tag and label filters take a decoration")
		}
	default:
		return invalid("decoration %q is not matches or excludes", f.Decoration)
	}
	return nil
}

// labels is a label filter's names.
func (f *Filter) labels() ([]string, bool) {
	switch v := f.Value.(type) {
	case []string:
		return v, true
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	case string: // Harbor's UI sends one label as a string at times
		if v == "" {
			return nil, true
		}
		return []string{v}, true
	}
	return nil, false
}

func (p *Policy) filter(typ string) *Filter {
	for i := range p.Filters {
		if p.Filters[i].Type == typ {
			return &p.Filters[i]
		}
	}
	return nil
}

// stringFilter is the value of p's filter typ ("" if none).
func (p *Policy) stringFilter(typ string) string {
	if f := p.filter(typ); f != nil {
		s, _ := f.Value.(string)
		return s
	}
	return ""
}

// MatchRepo reports whether repo (project/name) passes the name filter.
func (p *Policy) MatchRepo(repo string) bool {
	pat := p.stringFilter(FilterName)
	if pat == "" {
		return true
	}
	ok, _ := doublestar.Match(pat, repo)
	return ok
}

// MatchTag reports whether tag passes the tag filter.
func (p *Policy) MatchTag(tag string) bool {
	f := p.filter(FilterTag)
	if f == nil {
		return true
	}
	pat, _ := f.Value.(string)
	if pat == "" {
		return true
	}
	ok, _ := doublestar.Match(pat, tag)
	return ok == (f.Decoration != Excludes)
}

// MatchLabels reports whether an artifact with labels passes the label
// filter: matches = has all of them, excludes = has none of them.
func (p *Policy) MatchLabels(labels []string) bool {
	f := p.filter(FilterLabel)
	if f == nil {
		return true
	}
	want, _ := f.labels()
	if len(want) == 0 {
		return true
	}
	for _, l := range want {
		has := slices.Contains(labels, l)
		if f.Decoration == Excludes && has {
			return false
		}
		if f.Decoration != Excludes && !has {
			return false
		}
	}
	return true
}

// MatchResource reports whether an artifact of mediaType (its config's
// media type for an image) passes the resource filter: image is a
// container image or an index of them, artifact is anything.
func (p *Policy) MatchResource(isImage bool) bool {
	return p.stringFilter(FilterResource) != ResourceImage || isImage
}

// Platforms is the platform filter's list ("os/arch[/variant]"), nil if
// none.
func (p *Policy) Platforms() []string {
	s := p.stringFilter(FilterPlatform)
	if s == "" {
		return nil
	}
	var out []string
	for _, pl := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(pl))
	}
	return out
}

// DestRepo is where src (project/a/b/image) goes: Harbor's
// dest_namespace and dest_namespace_replace_count
// (src/pkg/reg/util/util.go). With no namespace the path is kept.
// replace -1 (the legacy default): namespace/image; n >= 0: the first n
// components of src's path (all but its last) are replaced by namespace;
// more components than the path has is an error.
func DestRepo(src, namespace string, replace int) (string, error) {
	if namespace == "" {
		return src, nil
	}
	dir, base := path.Split(src)
	comps := []string{}
	if dir = strings.Trim(dir, "/"); dir != "" {
		comps = strings.Split(dir, "/")
	}
	switch {
	case replace < 0:
		return namespace + "/" + base, nil
	case replace > len(comps):
		return "", fmt.Errorf("dest_namespace_replace_count %d is more than the %d path components of %s", replace, len(comps), src)
	}
	return path.Join(append(append([]string{namespace}, comps[replace:]...), base)...), nil
}

// replaceCount is p's dest_namespace_replace_count (-1 if not set).
func (p *Policy) replaceCount() int {
	if p.DestNamespaceReplaceCount == nil {
		return -1
	}
	return *p.DestNamespaceReplaceCount
}

// policyJSON is the part of a policy the store keeps as text.
func (p *Policy) text() (string, error) {
	b, err := json.Marshal(p)
	return string(b), err
}
