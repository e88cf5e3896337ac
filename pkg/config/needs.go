package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// validateNeeds checks that needs names apps by valid names, lists each
// at most once, and orders them without a cycle, which would leave no app
// of the cycle able to start.
func (c *Config) validateNeeds() []error {
	var problems []error
	for _, app := range slices.Sorted(maps.Keys(c.Needs)) {
		if errs := validation.IsDNS1123Label(app); len(errs) > 0 {
			problems = append(problems, fieldErr(fmt.Sprintf("invalid app name %q in needs: use the app's directory name", app), "needs", app))
		}
		seen := map[string]bool{}
		for i, dep := range c.Needs[app] {
			switch {
			case len(validation.IsDNS1123Label(dep)) > 0:
				problems = append(problems, fieldErr(fmt.Sprintf("invalid app name %q needed by %q: use the app's directory name", dep, app), "needs", app, fmt.Sprint(i)))
			case dep == app:
				problems = append(problems, fieldErr(fmt.Sprintf("app %q needs itself: remove it from its own list", app), "needs", app, fmt.Sprint(i)))
			case seen[dep]:
				problems = append(problems, fieldErr(fmt.Sprintf("app %q needs %q twice: keep one", app, dep), "needs", app, fmt.Sprint(i)))
			}
			seen[dep] = true
		}
	}
	if cycle := c.NeedsCycle(); cycle != nil {
		problems = append(problems, fieldErr(fmt.Sprintf("the apps need each other in a cycle (%s), so none of them could be deployed first: remove one of these needs", strings.Join(cycle, " needs ")), "needs", cycle[0]))
	}
	return problems
}

// NeedsCycle returns a cycle of needs as the apps along it, the first
// repeated at the end (web, api, web), or nil when there is none.
func (c *Config) NeedsCycle() []string {
	const (
		unvisited = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(app string) []string
	visit = func(app string) []string {
		switch state[app] {
		case onPath:
			i := slices.Index(path, app)
			return append(slices.Clone(path[i:]), app)
		case done:
			return nil
		}
		state[app] = onPath
		path = append(path, app)
		for _, dep := range c.Needs[app] {
			if cycle := visit(dep); cycle != nil {
				return cycle
			}
		}
		path = path[:len(path)-1]
		state[app] = done
		return nil
	}
	for _, app := range slices.Sorted(maps.Keys(c.Needs)) {
		if cycle := visit(app); cycle != nil {
			return cycle
		}
	}
	return nil
}
