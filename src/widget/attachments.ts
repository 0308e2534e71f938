/**
 * Client-side checks of a file before upload, against the integration's
 * `config.attachments`, so the user learns at once instead of after a 413/415;
 * and how a file message names itself. Pure.
 */
import type { AttachmentLimits } from './types';

export type AttachmentProblem = 'tooLarge' | 'typeNotAllowed';

/** Whether `type` matches a pattern list such as ["image/*", "application/pdf"]. */
export function mimeAllowed(type: string, patterns: readonly string[]): boolean {
  const t = type.toLowerCase();
  return patterns.some((p) => {
    const q = p.toLowerCase();
    return q === '*/*' || q === t || (q.endsWith('/*') && t.startsWith(q.slice(0, -1)));
  });
}

export function checkAttachment(file: { size: number; type: string }, limits: AttachmentLimits | undefined): AttachmentProblem | undefined {
  if (!limits) return undefined;
  if (file.size > limits.maxBytes) return 'tooLarge';
  if (limits.types.length > 0 && !mimeAllowed(file.type || 'application/octet-stream', limits.types)) return 'typeNotAllowed';
  return undefined;
}

/** The `accept` attribute for the file picker: the same patterns the server enforces. */
export function acceptAttribute(limits: AttachmentLimits | undefined): string {
  return (limits?.types ?? []).filter((t) => t !== '*/*').join(',');
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** The last path segment of a media URL, decoded: the name a file bubble shows when it has no altText. */
export function fileNameFromUrl(url: string): string {
  const path = url.split(/[?#]/)[0] ?? '';
  const last = path.slice(path.lastIndexOf('/') + 1);
  try {
    return decodeURIComponent(last) || url;
  } catch {
    return last || url;
  }
}
