/** The endpoints file's optional `deployment` and `config` (model config profiles) per model entry. */
import { EndpointsFileError, parseEndpointsFile } from "../../../src/cluster/discovery/endpoints-file";

const CONFIG = `
    config:
      defaultProfile: fast
      profiles:
        fast: { routingStrategy: random, requestsPerSecond: 20 }`;

describe("endpoints file: deployment and config", () => {
  it("gives each endpoint of the model its deployment and parsed config", () => {
    const pods = parseEndpointsFile(`
models:
  - name: m1
    endpoints: ["10.0.0.1:8000", "10.0.0.2:8000"]
    deployment: m1-h100${CONFIG}
  - name: m2
    endpoints: ["10.0.0.3:8000"]
`);
    expect(pods.map((p) => [p.name, p.deployment, p.modelConfig?.defaultProfile])).toEqual([
      ["10.0.0.1:8000", "m1-h100", "fast"],
      ["10.0.0.2:8000", "m1-h100", "fast"],
      ["10.0.0.3:8000", undefined, undefined],
    ]);
    expect(pods[0]?.modelConfig?.profiles["fast"]).toEqual({
      routingStrategy: "random",
      requestsPerSecond: 20,
    });
    expect(pods[2]).not.toHaveProperty("modelConfig");
  });

  it.each<[string, string, string]>([
    [
      "a malformed config, by path",
      `models:\n  - name: m1\n    endpoints: ["h:1"]\n    config: { profiles: { p: { requestsPerSecond: -2 } } }\n`,
      "models[0].config: profiles.p.requestsPerSecond",
    ],
    [
      "deployments that disagree on a shared endpoint",
      `models:\n  - { name: a, endpoints: ["h:1"], deployment: x }\n  - { name: b, endpoints: ["h:1"], deployment: y }\n`,
      "models[1].deployment: y conflicts with x (models[0]) for endpoint h:1",
    ],
    [
      "configs that disagree on a shared endpoint",
      `models:\n  - { name: a, endpoints: ["h:1"], config: { profiles: { p: {} } } }\n  - { name: b, endpoints: ["h:1"], config: { profiles: { q: {} } } }\n`,
      "models[1].config: conflicts with (models[0]) for endpoint h:1",
    ],
  ])("refuses %s", (_name, text, message) => {
    expect(() => parseEndpointsFile(text)).toThrow(EndpointsFileError);
    expect(() => parseEndpointsFile(text)).toThrow(message);
  });
});
