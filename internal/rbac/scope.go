package rbac

import (
	"errors"
	"strings"
)

// ErrScopeInvalid is returned for a malformed token scope.
var ErrScopeInvalid = errors.New("invalid scope")

// Scope is one Docker token scope: "repository:dev/app:pull,push",
// "registry:catalog:*".
type Scope struct {
	Type    string   // "repository" or "registry" (a "(class)" suffix is dropped)
	Name    string   // repository name, or "catalog"
	Actions []string // as requested: pull, push, delete, *
}

// MaxScopeLength bounds a scope string.
const MaxScopeLength = 1024

// ParseScope parses type:name:actions. The name may itself contain ':' (a
// registry host with a port), so type is cut at the first and actions at
// the last colon.
func ParseScope(s string) (Scope, error) {
	if len(s) > MaxScopeLength {
		return Scope{}, ErrScopeInvalid
	}
	i, j := strings.IndexByte(s, ':'), strings.LastIndexByte(s, ':')
	if i <= 0 || j <= i+1 || j == len(s)-1 {
		return Scope{}, ErrScopeInvalid
	}
	sc := Scope{Type: s[:i], Name: s[i+1 : j]}
	if k := strings.IndexByte(sc.Type, '('); k > 0 && strings.HasSuffix(sc.Type, ")") {
		sc.Type = sc.Type[:k]
	}
	for _, a := range strings.Split(s[j+1:], ",") {
		a = strings.TrimSpace(a)
		if a == "" || strings.ContainsAny(a, " :\"") {
			return Scope{}, ErrScopeInvalid
		}
		sc.Actions = append(sc.Actions, a)
	}
	return sc, nil
}

// String formats the scope back as type:name:actions.
func (s Scope) String() string { return s.Type + ":" + s.Name + ":" + strings.Join(s.Actions, ",") }

// TokenActions maps a repository scope action to the project actions it
// needs: "*" means pull, push and delete.
func TokenActions(a string) []Action {
	switch a {
	case "pull":
		return []Action{Pull}
	case "push":
		return []Action{Push}
	case "delete":
		return []Action{DeleteArtifact}
	case "*":
		return []Action{Pull, Push, DeleteArtifact}
	}
	return nil
}

// Grant returns the scope actions s is allowed, in the requested order:
// the intersection of what was asked and what is permitted.
func Grant(s Subject, requested []string) []string {
	granted := []string{}
	for _, a := range requested {
		acts := TokenActions(a)
		if len(acts) == 0 {
			continue
		}
		ok := true
		for _, act := range acts {
			ok = ok && Allowed(s, act)
		}
		if ok {
			granted = append(granted, a)
		} else if a == "*" { // "*" not wholly allowed: grant its allowed parts
			for _, part := range []string{"pull", "push", "delete"} {
				if Allowed(s, TokenActions(part)[0]) {
					granted = append(granted, part)
				}
			}
		}
	}
	return dedupe(granted)
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, a := range in {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}
