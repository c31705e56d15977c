package replication

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// dockerHubURL is Docker Hub's address as Harbor records it.
const dockerHubURL = "https://hub.docker.com"

// FilterStyle is Harbor's FilterStyle: a filter a registry supports.
type FilterStyle struct {
	Type   string   `json:"type"`
	Style  string   `json:"style"`
	Values []string `json:"values,omitempty"`
}

// Info is Harbor's RegistryInfo: what a registry's adapter supports.
type Info struct {
	Type                     string        `json:"type"`
	Description              string        `json:"description"`
	SupportedResourceFilters []FilterStyle `json:"supported_resource_filters"`
	SupportedTriggers        []string      `json:"supported_triggers"`
	SupportedCopyByChunk     bool          `json:"supported_copy_by_chunk,omitempty"`
}

// Endpoint is Harbor's RegistryEndpoint.
type Endpoint struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ProviderInfo is Harbor's RegistryProviderInfo: how the web UI offers
// an adapter's endpoint and credential.
type ProviderInfo struct {
	EndpointPattern   *EndpointPattern   `json:"endpoint_pattern,omitempty"`
	CredentialPattern *CredentialPattern `json:"credential_pattern,omitempty"`
}

// EndpointPattern is Harbor's RegistryProviderEndpointPattern.
type EndpointPattern struct {
	EndpointType string     `json:"endpoint_type"`
	Endpoints    []Endpoint `json:"endpoints,omitempty"`
}

// CredentialPattern is Harbor's RegistryProviderCredentialPattern.
type CredentialPattern struct {
	AccessKeyType    string `json:"access_key_type"`
	AccessKeyData    string `json:"access_key_data"`
	AccessSecretType string `json:"access_secret_type"`
	AccessSecretData string `json:"access_secret_data"`
}

// Trigger types.
const (
	TriggerManual    = "manual"
	TriggerScheduled = "scheduled"
	TriggerEvent     = "event_based"
)

type adapter struct {
	description string
	filters     []FilterStyle
	provider    ProviderInfo
}

var (
	nameFilter     = FilterStyle{Type: FilterName, Style: "input"}
	tagFilter      = FilterStyle{Type: FilterTag, Style: "input"}
	labelFilter    = FilterStyle{Type: FilterLabel, Style: "input"}
	resourceFilter = FilterStyle{Type: FilterResource, Style: "radio", Values: []string{ResourceImage, ResourceArtifact}}
)

// adapters are the registry types berth speaks.
var adapters = map[string]adapter{
	TypeDockerRegistry: {description: "Any registry of the OCI distribution protocol (distribution, zot, berth, GHCR, Quay, ECR or ACR with static credentials)",
		filters: []FilterStyle{nameFilter, tagFilter}},
	TypeHarbor: {description: "Harbor (or berth): projects and repositories listed through its API",
		filters: []FilterStyle{nameFilter, tagFilter, labelFilter, resourceFilter}},
	TypeDockerHub: {description: "Docker Hub: its token service and library/ namespace",
		filters: []FilterStyle{nameFilter, tagFilter},
		provider: ProviderInfo{EndpointPattern: &EndpointPattern{EndpointType: "EndpointPatternTypeFix",
			Endpoints: []Endpoint{{Key: "hub.docker.com", Value: dockerHubURL}}}}},
}

// AdapterTypes lists the registry types berth speaks, sorted.
func AdapterTypes() []string {
	out := make([]string, 0, len(adapters))
	for t := range adapters {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// ProviderInfos is Harbor's /replication/adapterinfos.
func ProviderInfos() map[string]ProviderInfo {
	out := map[string]ProviderInfo{}
	for t, a := range adapters {
		out[t] = a.provider
	}
	return out
}

// InfoOf is Harbor's RegistryInfo of a registry of type typ.
func InfoOf(typ string) Info {
	a := adapters[typ]
	return Info{Type: typ, Description: a.description, SupportedResourceFilters: a.filters,
		SupportedTriggers: []string{TriggerManual, TriggerScheduled, TriggerEvent}, SupportedCopyByChunk: true}
}

// maxListed bounds a registry's listing of repositories.
const maxListed = 100000

// Repositories lists the repositories of the registry (up to 100,000):
// its catalog for docker-registry, projects then their repositories
// through the API for harbor, the namespaces named by patterns for
// docker-hub (which has no catalog: each pattern's first segment must be
// a namespace).
func (r *Remote) Repositories(ctx context.Context, patterns []string) ([]string, error) {
	switch r.Registry.Type {
	case TypeHarbor:
		return r.harborRepositories(ctx)
	case TypeDockerHub:
		return r.hubRepositories(ctx, patterns)
	}
	repos, err := remote.Catalog(ctx, r.Host, r.Options(ctx)...)
	if err != nil {
		return nil, err
	}
	if len(repos) > maxListed {
		repos = repos[:maxListed]
	}
	return repos, nil
}

// Tags lists the tags of repo.
func (r *Remote) Tags(ctx context.Context, repo string) ([]string, error) {
	ref, err := r.Repository(repo)
	if err != nil {
		return nil, err
	}
	return remote.List(ref, r.Options(ctx)...)
}

func (r *Remote) harborRepositories(ctx context.Context) ([]string, error) {
	var out []string
	for page := 1; len(out) < maxListed; page++ {
		var projects []struct {
			Name string `json:"name"`
		}
		if err := r.harborGet(ctx, fmt.Sprintf("/api/v2.0/projects?page=%d&page_size=100", page), &projects); err != nil {
			return nil, err
		}
		for _, p := range projects {
			for rp := 1; len(out) < maxListed; rp++ {
				var repos []struct {
					Name string `json:"name"`
				}
				if err := r.harborGet(ctx, fmt.Sprintf("/api/v2.0/projects/%s/repositories?page=%d&page_size=100",
					url.PathEscape(p.Name), rp), &repos); err != nil {
					return nil, err
				}
				for _, rr := range repos {
					out = append(out, rr.Name)
				}
				if len(repos) < 100 {
					break
				}
			}
		}
		if len(projects) < 100 {
			break
		}
	}
	return out, nil
}

// hubRepositories lists the repositories of the namespaces the patterns
// start with, through Docker Hub's API.
func (r *Remote) hubRepositories(ctx context.Context, patterns []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, p := range patterns {
		ns, rest, _ := strings.Cut(p, "/")
		if rest == "" {
			ns = "library"
		}
		if seen[ns] || strings.ContainsAny(ns, "*?[{") {
			continue
		}
		seen[ns] = true
		next := dockerHubURL + "/v2/repositories/" + url.PathEscape(ns) + "/?page_size=100"
		for next != "" && len(out) < maxListed {
			var page struct {
				Next    string `json:"next"`
				Results []struct {
					Name string `json:"name"`
				} `json:"results"`
			}
			if err := r.getJSON(ctx, next, &page); err != nil {
				return nil, err
			}
			for _, res := range page.Results {
				out = append(out, ns+"/"+res.Name)
			}
			next = page.Next
		}
	}
	return out, nil
}

// getJSON reads a JSON document at an absolute URL through the registry's
// transport.
func (r *Remote) getJSON(ctx context.Context, u string, v any) error {
	_, err := r.do(ctx, "GET", u, nil, v)
	return err
}
