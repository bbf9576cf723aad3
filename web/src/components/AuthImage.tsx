import { useEffect, useState } from "react";

import { useAuth } from "../stores/auth";

/**
 * An image from the API. Without an API key it is a plain <img>; with one, the bytes are
 * fetched with the Authorization header (an <img> cannot send it) and shown from a blob.
 */
export function useImageSrc(url: string | null): string | null {
  const apiKey = useAuth((s) => s.apiKey);
  const [blobUrl, setBlobUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!url || !apiKey || url.startsWith("data:")) {
      setBlobUrl(null);
      return;
    }
    let revoked = false;
    let objectUrl: string | null = null;
    fetch(url, { headers: { Authorization: `Bearer ${apiKey}` } })
      .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(String(r.status)))))
      .then((blob) => {
        if (revoked) return;
        objectUrl = URL.createObjectURL(blob);
        setBlobUrl(objectUrl);
      })
      .catch(() => setBlobUrl(null));
    return () => {
      revoked = true;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [url, apiKey]);
  if (!url) return null;
  return apiKey && !url.startsWith("data:") ? blobUrl : url;
}

type Props = Omit<React.ImgHTMLAttributes<HTMLImageElement>, "src"> & { src: string };

export function AuthImage({ src, alt, ...rest }: Props) {
  const resolved = useImageSrc(src);
  if (!resolved) return <div className={`img-loading ${rest.className ?? ""}`} role="img" aria-label={alt} />;
  return <img src={resolved} alt={alt} {...rest} />;
}
