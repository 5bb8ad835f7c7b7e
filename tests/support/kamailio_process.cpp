#include "kamailio_process.hpp"

#include "server_process.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace wazo::test {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kKamailio = "/usr/sbin/kamailio";

// Where Debian puts the modules (multiarch), or the plain layout.
std::string module_dir() {
  std::error_code ec;
  for (const char* dir : {"/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/aarch64-linux-gnu/kamailio/modules",
                          "/usr/lib/kamailio/modules", "/usr/lib64/kamailio/modules"}) {
    if (fs::exists(fs::path(dir) / "websocket.so", ec)) return dir;
  }
  for (const auto& entry : fs::directory_iterator("/usr/lib", ec)) {
    const auto candidate = entry.path() / "kamailio" / "modules";
    if (fs::exists(candidate / "websocket.so", ec)) return candidate.string();
  }
  return {};
}

// A free TCP port on 127.0.0.1 (bind to port 0, read it, close: a small race that start() retries on).
std::uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  std::uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out.flush());
}

// A string literal for the Kamailio config language.
std::string cfg_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

// A self-signed certificate (P-256, CA:TRUE so it can be trusted as it is) for 127.0.0.1, localhost and
// `domain`, valid from now for 10 days.
bool write_self_signed_cert(const std::string& cert_path, const std::string& key_path, const std::string& domain,
                            std::string& why) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) {
    why = "cannot generate a key";
    return false;
  }
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(std::time(nullptr) & 0x7fffffff));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  const std::string san = "IP:127.0.0.1,DNS:localhost,DNS:" + domain;
  const std::array<std::pair<int, std::string>, 5> exts = {{{NID_basic_constraints, "critical,CA:TRUE"},
                                                            {NID_key_usage, "critical,digitalSignature,keyCertSign"},
                                                            {NID_ext_key_usage, "serverAuth"},
                                                            {NID_subject_key_identifier, "hash"},
                                                            {NID_subject_alt_name, san}}};
  for (const auto& [nid, value] : exts) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) {
      why = "cannot build the certificate extension " + value;
      return false;
    }
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    why = "cannot sign the certificate";
    return false;
  }
  FILE* kf = std::fopen(key_path.c_str(), "w");
  FILE* cf = std::fopen(cert_path.c_str(), "w");
  bool ok = kf != nullptr && cf != nullptr;
  ok = ok && PEM_write_PrivateKey(kf, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  ok = ok && PEM_write_X509(cf, cert.get()) == 1;
  if (kf != nullptr) ok = std::fclose(kf) == 0 && ok;
  if (cf != nullptr) ok = std::fclose(cf) == 0 && ok;
  if (!ok) why = "cannot write the certificate to " + cert_path;
  return ok;
}

// The config. Placeholders: @DIR@, @MPATH@, @DOMAIN@ (quoted), @REALM@ (quoted), @WS_PORT@, @WSS_PORT@,
// @TCP_CHILDREN@, @MAX_EXPIRES@, @ALGORITHM@ (quoted), @USERS@; #!define WITH_AUTH / WITH_TLS / WITH_DEBUGLOG are
// prepended.
constexpr const char* kConfig = R"CFG(
#!define WS_PORT @WS_PORT@
#!define WSS_PORT @WSS_PORT@

####### Global parameters #########
debug=2
log_stderror=yes
log_prefix="{$mt $hdr(CSeq) $ci} "
fork=yes
children=1
tcp_children=@TCP_CHILDREN@

auto_aliases=no
# Only the domain: an alias without a port matches every port, so "127.0.0.1" would make every UA on loopback
# "myself" (in-dialog requests would be sent back to Kamailio). The listen sockets are myself already.
alias=@DOMAIN@

listen=tcp:127.0.0.1:WS_PORT
#!ifdef WITH_TLS
enable_tls=yes
listen=tls:127.0.0.1:WSS_PORT
#!endif

# No DNS: never resolve anything.
dns=no
rev_dns=no
dns_try_ipv6=no
dns_retr_time=1
dns_retr_no=1
use_dns_failover=off

tcp_connection_lifetime=3605
tcp_accept_no_cl=yes
tcp_rd_buf_size=16384

mpath="@MPATH@/"

####### Modules ########
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "ctl.so"
loadmodule "nathelper.so"
loadmodule "xhttp.so"
loadmodule "websocket.so"
#!ifdef WITH_AUTH
loadmodule "auth.so"
#!endif
#!ifdef WITH_TLS
loadmodule "tls.so"
#!endif

modparam("ctl", "binrpc", "unix:@DIR@/kamailio_ctl")
modparam("tm", "failure_reply_mode", 3)
modparam("tm", "fr_timer", 30000)
modparam("tm", "fr_inv_timer", 120000)
modparam("rr", "enable_full_lr", 0)
modparam("rr", "append_fromtag", 1)
modparam("usrloc", "db_mode", 0)
modparam("registrar", "method_filtering", 1)
modparam("registrar", "max_expires", @MAX_EXPIRES@)
modparam("registrar", "gruu_enabled", 0)
modparam("registrar", "received_avp", "$avp(RECEIVED)")
modparam("nathelper", "received_avp", "$avp(RECEIVED)")
modparam("nathelper", "natping_interval", 0)
modparam("websocket", "keepalive_mechanism", 1)
modparam("websocket", "keepalive_timeout", 30)
modparam("websocket", "keepalive_processes", 1)
modparam("websocket", "keepalive_interval", 1)
modparam("websocket", "sub_protocols", 1)
# A closed WS connection keeps its ~66 KB of shared memory until it is destroyed, rm_delay_interval seconds
# later (5 by default): connections opened and closed fast (a benchmark) would exhaust the shared memory, and
# new ones are then refused (the client sees the TCP connection closed: "End of file").
modparam("websocket", "rm_delay_interval", 1)
#!ifdef WITH_AUTH
modparam("auth", "algorithm", @ALGORITHM@)
#!endif
#!ifdef WITH_TLS
modparam("tls", "config", "@DIR@/tls.cfg")
#!endif

####### Routing Logic ########
request_route {
#!ifdef WITH_DEBUGLOG
	xlog("L_INFO", "recv $rm $ru from $proto:$si:$sp\n");
#!endif
	route(REQINIT);
	route(WSNAT);

	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			route(RELAY);
		}
		exit;
	}
	if (!is_method("ACK")) {
		if (t_precheck_trans()) {
			t_check_trans();
			exit;
		}
		t_check_trans();
	}

	route(WITHINDLG);

	# initial requests only from here on
	remove_hf("Route");
	if (is_method("INVITE|SUBSCRIBE|REFER")) {
		record_route();
	}

	# OPTIONS to the proxy itself (client heartbeat): answered statelessly, without auth
	if (is_method("OPTIONS") && uri==myself && $rU==$null) {
		sl_send_reply("200", "Keepalive");
		exit;
	}

	route(AUTH);

	if (is_method("REGISTER")) {
		route(REGISTRAR);
	}
	if ($rU==$null) {
		sl_send_reply("484", "Address Incomplete");
		exit;
	}
	route(LOCATION);
}

route[REQINIT] {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (!sanity_check("17895", "7")) {
		xlog("L_WARN", "malformed SIP request from $proto:$si:$sp\n");
		exit;
	}
}

# WebSocket clients use *.invalid Contacts: store the real source for REGISTER,
# and put an ;alias= (ip~port~proto) on the Contact of other requests.
route[WSNAT] {
	if (nat_uac_test("64")) {
		force_rport();
		if (is_method("REGISTER")) {
			fix_nated_register();
		} else if (is_present_hf("Contact")) {
			if (!add_contact_alias()) {
				xlog("L_ERR", "error aliasing contact <$ct>\n");
				sl_send_reply("400", "Bad Request");
				exit;
			}
		}
	}
}

route[WITHINDLG] {
	if (!has_totag()) return;
	if (loose_route()) {
		if ($du == "") {
			if (!handle_ruri_alias()) {
				xlog("L_ERR", "bad alias <$ru>\n");
				sl_send_reply("400", "Bad Request");
				exit;
			}
		}
		route(RELAY);
		exit;
	}
	if (is_method("ACK")) {
		if (t_check_trans()) {
			route(RELAY);
		}
		exit;
	}
	if (is_method("OPTIONS") && uri==myself) {
		sl_send_reply("200", "Keepalive");
		exit;
	}
	sl_send_reply("404", "Not here");
	exit;
}

route[AUTH] {
#!ifdef WITH_AUTH
	if (is_method("REGISTER") || from_uri==myself) {
		route(STATICPW);
		# No credentials, or an unknown user: challenge (pv_auth_check would log an error for the empty password).
		if ($var(pw) == "" || !pv_auth_check(@REALM@, "$var(pw)", "0", "1")) {
			auth_challenge(@REALM@, "1");
			exit;
		}
		if (!is_method("REGISTER|PUBLISH")) {
			consume_credentials();
		}
	}
#!endif
	return;
}

# the static user table
route[STATICPW] {
	$var(pw) = "";
	switch ($au) {
@USERS@	}
}

route[REGISTRAR] {
	if (!save("location")) {
		sl_reply_error();
	}
	exit;
}

route[LOCATION] {
	if (!lookup("location")) {
		$var(rc) = $rc;
		t_newtran();
		switch ($var(rc)) {
			case -1:
			case -3:
				send_reply("404", "Not Found");
				exit;
			case -2:
				send_reply("405", "Method Not Allowed");
				exit;
		}
	}
	route(RELAY);
	exit;
}

route[RELAY] {
	if (is_method("INVITE|BYE|SUBSCRIBE|UPDATE|REFER|NOTIFY|MESSAGE|INFO|OPTIONS|PRACK")) {
		if (!t_is_set("onreply_route")) t_on_reply("MANAGE_REPLY");
	}
	if (is_method("INVITE")) {
		if (!t_is_set("failure_route")) t_on_failure("MANAGE_FAILURE");
	}
	if (!t_relay()) {
		sl_reply_error();
	}
	exit;
}

onreply_route[MANAGE_REPLY] {
	if (nat_uac_test("64") && is_present_hf("Contact")) {
		add_contact_alias();
	}
}

failure_route[MANAGE_FAILURE] {
	if (t_is_canceled()) exit;
}

####### WebSocket handshake ########
event_route[xhttp:request] {
	set_reply_close();
	set_reply_no_connect();
	if ($Rp != WS_PORT
#!ifdef WITH_TLS
	    && $Rp != WSS_PORT
#!endif
	) {
		xhttp_reply("403", "Forbidden", "", "");
		exit;
	}
	if ($hdr(Upgrade) =~ "websocket" && $hdr(Connection) =~ "Upgrade" && $rm =~ "GET") {
		if (ws_handle_handshake()) {
			exit;
		}
	}
	xhttp_reply("404", "Not Found", "", "");
}

event_route[websocket:closed] {
	xlog("L_INFO", "WebSocket connection from $si:$sp closed\n");
}
)CFG";

void replace_all(std::string& text, const std::string& what, const std::string& with) {
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + with.size())) {
    text.replace(pos, what.size(), with);
  }
}

}  // namespace

bool KamailioProcess::available(bool tls) {
  if (access(kKamailio, X_OK) != 0) return false;
  const std::string dir = module_dir();
  if (dir.empty()) return false;
  std::error_code ec;
  return !tls || fs::exists(fs::path(dir) / "tls.so", ec);
}

std::string KamailioProcess::unavailable_message() {
  return std::string("Kamailio is not installed: ") + kKamailio +
         " and its websocket module (and tls module for WSS) are needed; install the Debian packages kamailio, "
         "kamailio-websocket-modules and kamailio-tls-modules";
}

KamailioProcess::KamailioProcess(KamailioOptions options) : options_(std::move(options)) {
  error_ = why_not_startable(!dir_.path().empty(), available(options_.tls), unavailable_message());
  if (!error_.empty()) return;
  if (options_.tls) {
    std::string why;
    if (!write_self_signed_cert(dir_.file("cert.pem"), dir_.file("key.pem"), options_.domain, why)) {
      error_ = why;
      return;
    }
  }
  start();
}

KamailioProcess::~KamailioProcess() { stop(); }

std::string KamailioProcess::ws_url() const { return "ws://127.0.0.1:" + std::to_string(port_); }
std::string KamailioProcess::wss_url() const {
  return options_.tls ? "wss://127.0.0.1:" + std::to_string(tls_port_) : std::string();
}
std::string KamailioProcess::ca_file() const { return options_.tls ? dir_.file("cert.pem") : std::string(); }
std::string KamailioProcess::config_file() const { return dir_.file("kamailio.cfg"); }
std::string KamailioProcess::log() const { return read_whole_file(dir_.file("kamailio.log")); }

bool KamailioProcess::write_files(std::string& why) {
  std::string users;
  for (const auto& u : options_.users) {
    users += "\t\tcase " + cfg_string(u.user) + ": $var(pw) = " + cfg_string(u.password) + "; break;\n";
  }
  std::string defines = "#!KAMAILIO\n# written by wazo::test::KamailioProcess\n";
  if (options_.auth) defines += "#!define WITH_AUTH\n";
  if (options_.tls) defines += "#!define WITH_TLS\n";
  if (options_.debug_log) defines += "#!define WITH_DEBUGLOG\n";
  std::string cfg = defines + kConfig;
  replace_all(cfg, "@DIR@", dir_.path());
  replace_all(cfg, "@MPATH@", module_dir());
  replace_all(cfg, "@DOMAIN@", cfg_string(options_.domain));
  replace_all(cfg, "@REALM@", cfg_string(options_.domain));
  replace_all(cfg, "@WS_PORT@", std::to_string(port_));
  replace_all(cfg, "@WSS_PORT@", std::to_string(options_.tls ? tls_port_ : 0));
  replace_all(cfg, "@TCP_CHILDREN@", std::to_string(options_.tcp_children > 0 ? options_.tcp_children : 2));
  replace_all(cfg, "@MAX_EXPIRES@", std::to_string(options_.max_expires));
  replace_all(cfg, "@ALGORITHM@", cfg_string(options_.digest_algorithm));
  replace_all(cfg, "@USERS@", users);
  if (!write_file(config_file(), cfg)) {
    why = "cannot write " + config_file();
    return false;
  }
  if (options_.tls) {
    const std::string tls_cfg =
        "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
        "require_certificate = no\nprivate_key = " +
        dir_.file("key.pem") + "\ncertificate = " + dir_.file("cert.pem") +
        "\n\n[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
        "require_certificate = no\n";
    if (!write_file(dir_.file("tls.cfg"), tls_cfg)) {
      why = "cannot write " + dir_.file("tls.cfg");
      return false;
    }
  }
  return true;
}

bool KamailioProcess::start() {
  error_.clear();
  const bool fixed_ports = port_ != 0 || options_.port != 0;
  std::string why;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (port_ == 0 || (!fixed_ports && attempt > 0)) port_ = options_.port != 0 ? options_.port : free_port();
    if (options_.tls && (tls_port_ == 0 || (!fixed_ports && attempt > 0))) {
      do {
        tls_port_ = free_port();
      } while (tls_port_ == port_);
    }
    if (port_ == 0 || (options_.tls && tls_port_ == 0)) {
      why = "no free loopback port";
      continue;
    }
    if (start_once(why)) return true;
    // A port taken between free_port() and Kamailio's bind: try other ports (or, on fixed ports — a restart —
    // the same ones again a little later).
    if (why.find("ddress already in use") == std::string::npos) break;
    std::this_thread::sleep_for(200ms);
  }
  error_ = why;
  return false;
}

bool KamailioProcess::start_once(std::string& why) {
  if (!write_files(why)) return false;
  const std::string log_path = dir_.file("kamailio.log");
  const std::size_t log_start = read_whole_file(log_path).size();
  ServerStart start;
  start.name = "kamailio";
  start.args = {kKamailio,
                "-f",
                config_file(),
                "-DD",
                "-E",
                "-m",
                std::to_string(options_.shm_mb > 0 ? options_.shm_mb : 64),
                "-M",
                "8",
                "-P",
                dir_.file("kamailio.pid")};
  start.output = log_path;
  const auto started = std::chrono::steady_clock::now();
  // Ready when the ports accept and every worker has been forked: Kamailio logs how many processes it starts
  // ("processes (at least): N"); a SIGTERM while it still forks can leave it stuck until SIGKILL.
  start.ready = [&](pid_t pid) {
    if (!loopback_port_accepts(port_) || (options_.tls && !loopback_port_accepts(tls_port_))) return false;
    const std::string out = read_whole_file(log_path).substr(log_start);
    const std::string marker = "processes (at least): ";
    const auto pos = out.find(marker);
    if (pos == std::string::npos) {
      return std::chrono::steady_clock::now() > started + 3s;  // another Kamailio version: the ports are enough
    }
    const long expected = std::strtol(out.c_str() + pos + marker.size(), nullptr, 10);
    return static_cast<long>(child_pids(pid).size()) >= expected - 1;
  };
  start.waiting_for = "accept connections on 127.0.0.1:" + std::to_string(port_);
  pid_ = start_server(std::move(start), why);
  return pid_ > 0;
}

int KamailioProcess::stop() { return stop_server(pid_); }

bool KamailioProcess::restart() {
  stop();
  if (!available(options_.tls)) {
    error_ = unavailable_message();
    return false;
  }
  return start();
}

namespace {

// Fields of /proc/PID/stat after the command: "S PPID ...". Empty when the process is gone.
std::string stat_after_comm(pid_t pid) {
  const std::string stat = read_whole_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= stat.size()) return {};
  return stat.substr(close_paren + 2);
}

}  // namespace

bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  const std::string rest = stat_after_comm(pid);
  return !rest.empty() && rest[0] != 'Z' && rest[0] != 'X';
}

std::vector<pid_t> child_pids(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    std::istringstream fields(stat_after_comm(pid));
    std::string state;
    long ppid = 0;
    if (!(fields >> state >> ppid)) continue;
    if (ppid == parent && state != "Z" && state != "X") out.push_back(pid);
  }
  return out;
}

}  // namespace wazo::test
