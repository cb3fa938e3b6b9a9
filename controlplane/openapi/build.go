package openapi

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"skiff.dev/skiff/controlplane/apis"
)

// BuildV2 returns the OpenAPI v2 (swagger 2.0) document of the resources:
// their paths, and the definitions those paths reach.
func BuildV2(resources []Resource) (*spec.Swagger, error) {
	namer, err := newDefinitionNamer(apis.Scheme)
	if err != nil {
		return nil, err
	}
	services, err := webServices(resources)
	if err != nil {
		return nil, err
	}
	containers := make([]common.RouteContainer, 0, len(services))
	for _, ws := range services {
		containers = append(containers, ws)
	}
	doc, err := builder.BuildOpenAPISpecFromRoutes(containers, &common.Config{
		Info:                           info(),
		CommonResponses:                map[int]spec.Response{401: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}},
		GetDefinitions:                 GetOpenAPIDefinitions,
		GetDefinitionName:              namer.GetDefinitionName,
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
	})
	if err != nil {
		return nil, fmt.Errorf("build OpenAPI v2: %w", err)
	}
	return doc, nil
}

// BuildV3 returns one OpenAPI v3 document per group version of the
// resources, keyed by its path in the /openapi/v3 discovery document
// ("api/v1", "apis/apps/v1").
func BuildV3(resources []Resource) (map[string]*spec3.OpenAPI, error) {
	namer, err := newDefinitionNamer(apis.Scheme)
	if err != nil {
		return nil, err
	}
	services, err := webServices(resources)
	if err != nil {
		return nil, err
	}
	docs := make(map[string]*spec3.OpenAPI, len(services))
	for _, ws := range services {
		doc, err := builder3.BuildOpenAPISpecFromRoutes([]common.RouteContainer{ws}, v3Config(namer))
		if err != nil {
			return nil, fmt.Errorf("build OpenAPI v3 of %s: %w", ws.root, err)
		}
		docs[strings.TrimPrefix(ws.root, "/")] = doc
	}
	return docs, nil
}

// v3Config returns a fresh configuration (the builders fill in its defaults).
func v3Config(namer *definitionNamer) *common.OpenAPIV3Config {
	return &common.OpenAPIV3Config{
		Info:                           info(),
		CommonResponses:                map[int]*spec3.Response{401: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}}},
		GetDefinitions:                 GetOpenAPIDefinitions,
		GetDefinitionName:              namer.GetDefinitionName,
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
	}
}

func info() *spec.Info {
	return &spec.Info{InfoProps: spec.InfoProps{Title: "skiff", Version: "unversioned"}}
}

// webServices groups the routes of the resources by group version, in the
// order the group versions first appear.
func webServices(resources []Resource) ([]*webService, error) {
	var services []*webService
	byGV := map[schema.GroupVersion]*webService{}
	for _, r := range resources {
		gv := r.GroupVersionKind.GroupVersion()
		ws, ok := byGV[gv]
		if !ok {
			ws = &webService{root: rootPath(gv)}
			byGV[gv] = ws
			services = append(services, ws)
		}
		routes, err := resourceRoutes(gv, r)
		if err != nil {
			return nil, err
		}
		ws.routes = append(ws.routes, routes...)
	}
	return services, nil
}
