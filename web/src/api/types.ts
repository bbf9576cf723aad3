// The contract of /api/v1 under the names the app uses: aliases onto schema.d.ts, which
// `npm run api-types` generates from openapi.json, the server's own OpenAPI document.
// Nothing here restates a server type; change the server and regenerate instead.

import type { components } from "./schema";

type Schemas = components["schemas"];

/**
 * The body of a request: the generated types count a field with a default as always
 * present, which holds for what the server sends, not for what it is sent. `Needed` are
 * the fields the schema requires; the server fills in the rest.
 */
type RequestBody<T, Needed extends keyof T = never> = Partial<T> & Pick<T, Needed>;

/**
 * What the server sends. FastAPI answers with every field of a response model, but the
 * schema leaves fields with a default factory (`images`, `loras`, `fits`, `loaded_on`…)
 * and some with a null default (a GPU's `utilization`) out of `required`, so the generated
 * types call them optional; they never are in an answer.
 */
type Sent<T> = T extends (infer Item)[]
  ? Sent<Item>[]
  : T extends object
    ? { [K in keyof T]-?: Sent<T[K]> }
    : T;

export type JobStatus = Schemas["JobStatus"];

export const FINISHED: readonly JobStatus[] = ["succeeded", "failed", "cancelled", "expired"];

export type Job = Sent<Schemas["Job"]>;
export type JobPage = Sent<Schemas["JobPage"]>;
export type Progress = Sent<Schemas["Progress"]>;
export type ImageInfo = Sent<Schemas["ImageInfo"]>;
export type LoraRef = Schemas["LoraRef"];
/** A job's request as the server resolved it (model, size and seed filled in). */
export type GenerationRequest = Sent<Schemas["GenerationRequest"]>;
/** The body of `POST /jobs`. */
export type JobSubmission = RequestBody<GenerationRequest, "prompt">;
/** The body of `PATCH /jobs/{id}`. */
export type PriorityChange = RequestBody<Schemas["PriorityChange"]>;
export type QueueState = Sent<Schemas["QueueSummary"]>;

export type AppConfig = Sent<Schemas["ServerConfig"]>;
export type ModelInfo = Sent<Schemas["ModelOut"]>;
/** An uploaded input image (POST /inputs): what `init_image` names. */
export type InputImage = Sent<Schemas["InputOut"]>;
export type Capabilities = Sent<Schemas["CapabilitiesOut"]>;
/** An installed ControlNet (GET /controlnet/models). */
export type ControlNetInfo = Sent<Schemas["ControlNetOut"]>;
export type ControlNetList = Sent<Schemas["ControlNetList"]>;
/** One ControlNet unit of a job. */
export type ControlNetUnit = Schemas["ControlNetUnit"];
export type ModelList = Sent<Schemas["ModelList"]>;
export type Sampler = Sent<Schemas["SamplerOut"]>;
export type SamplerList = Sent<Schemas["SamplerList"]>;

export type Lora = Sent<Schemas["Lora"]>;
export type LoraList = Sent<Schemas["LoraList"]>;
export type LoraUpdate = Schemas["LoraUpdate"];

export type HubModel = Sent<Schemas["HubModel"]>;
export type HubSearch = Sent<Schemas["HubSearch"]>;
export type DownloadStatus = Schemas["DownloadStatus"];
export type Download = Sent<Schemas["Download"]>;
export type DownloadList = Sent<Schemas["DownloadList"]>;
export type DownloadRequest = Schemas["DownloadRequest"];

export type ClusterState = Sent<Schemas["ClusterState"]>;
export type ClusterNode = Sent<Schemas["NodeInfo"]>;
export type Gpu = Sent<Schemas["GpuInfo"]>;
export type Deployment = Sent<Schemas["DeploymentInfo"]>;
export type Replica = Sent<Schemas["ReplicaInfo"]>;

/**
 * One message of `WS /ws` (the server sends one event per message), told apart by `type`.
 * Events are the exception to `Sent`: a job state's `snapshot` is left out when false.
 */
export type JobEvent = Sent<Schemas["StreamEvent"]>;
