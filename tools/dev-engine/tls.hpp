// Certificates for the dev engine's HTTPS: a throw-away CA and a server certificate it signs, made at start-up.
#pragma once

#include <string>

namespace wazo::engine {

struct GeneratedTls {
  std::string ca_pem;    // the CA certificate, for clients to trust (--tls-ca-out)
  std::string cert_pem;  // the server certificate (SAN IP:127.0.0.1, DNS:localhost), signed by the CA
  std::string key_pem;   // the server's private key
};

// EC P-256 keys, SHA-256 signatures, valid from one hour ago for 30 days. Throws std::runtime_error.
GeneratedTls generate_tls();

}  // namespace wazo::engine
