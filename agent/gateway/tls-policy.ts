// TLS settings of the gateway's HTTPS side: Mozilla's "intermediate" profile (TLS 1.2 and 1.3, forward-secret
// AEAD suites only; https://ssl-config.mozilla.org/#config=intermediate). TLS 1.3's suites are all AEAD with
// ephemeral keys, so only the 1.2 list needs naming. DHE suites are left out: Node offers none without
// explicit parameters, and ECDHE covers every client of the profile.
export const INTERMEDIATE_TLS = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  ecdhCurve: 'X25519:prime256v1:secp384r1',
  honorCipherOrder: false,
} as const;
