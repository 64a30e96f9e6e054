package Test::Nginx::Socket;

# =====================================================================
#  STAND-IN -- this is NOT the real Test::Nginx::Socket from CPAN.
#
#  A small re-implementation of a subset of Test::Nginx::Socket
#  (openresty/test-nginx), written for CI machines that have no CPAN
#  access (Debian does not package Test::Nginx).  The top Makefile puts
#  t/stand-in on @INC only when the real module is missing.
#
#  Test files must stay valid for the real module: only use the subset
#  listed in t/stand-in/README.md.  All the logic lives in
#  Test/Nginx/Util.pm; this file only sets up Test::Base inheritance
#  (which gives test files the `=== TEST` / `--- section` data blocks,
#  the Test::Base filters, strict/warnings and the Test::More
#  functions) and the same export list as the real module.
# =====================================================================

use v5.10.1;
use Test::Base -Base;

our $VERSION = '0.01';    # deliberately not a real Test::Nginx version
our $IS_STAND_IN = 1;

use Test::Nginx::Util;

# Same list as the real Test::Nginx::Socket (Test::Base adds its own
# exports: ok is isnt like unlike is_deeply cmp_ok pass fail skip
# todo_skip plan diag blocks ... -- but NOT note or done_testing).
our @EXPORT = qw( env_to_nginx is_str plan run_tests run_test
  repeat_each config_preamble worker_connections
  master_process_enabled
  no_long_string workers master_on master_off
  log_level no_shuffle no_root_location use_hup
  server_name
  server_addr server_root html_dir server_port server_port_for_client
  timeout no_nginx_manager check_accum_error_log
  add_block_preprocessor bail_out add_test_cleanup_handler add_cleanup_handler
  add_response_body_check
);

# Not exported, called fully qualified (as with the real module).
# (Prototyped so that Spiffy's -Base filter leaves it alone.)
sub set_http_config_filter ($) {
    $Test::Nginx::Util::FilterHttpConfig = shift;
}

1;
