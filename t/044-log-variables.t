# $securechat_user and $securechat_room for log_format (README,
# "Logging"): the session's user on every route that has one (the user
# logged in on a successful login), the room a rooms route's path, a
# room's creation or a chat post names (general when it names none); "-"
# where there is none: no session, a failed login, a route without a
# room.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::Rooms ();

securechat_defaults();

no_shuffle();

our $Routes = $ApiConfig . <<'_EOC_';
    location /api/rooms { securechat rooms; }
    access_log logs/sc.log sc;
_EOC_

our $Http = SecureChat::Rooms::http_config('logvars1') . <<'_EOC_';
    log_format sc '$request_method $uri $status u=$securechat_user r=$securechat_room';
_EOC_

# the lines of logs/sc.log once it has $n of them (at most 5 s)
sub log_lines {
    my ($n) = @_;
    my $file = "$Test::Nginx::Util::ServRoot/logs/sc.log";
    my @lines;
    for (1 .. 50) {
        if (open my $fh, '<', $file) {
            @lines = <$fh>;
            close $fh;
        }
        last if @lines >= $n;
        select undef, undef, undef, 0.1;
    }
    chomp @lines;
    return @lines;
}

run_tests();

__DATA__

=== TEST 1: the user and room of each request, "-" where there is none
--- http_config eval: $::Http
--- config eval: $::Routes
--- init
SecureChat::Rooms::forget();
my ($st) = SecureChat::Test::http_request('POST', '/api/login', { 'Content-Type' => 'application/json' },
                                          '{"username":"alice","password":"wrong"}');
Test::More::is($st, 401, 'a failed login');
Test::More::is(SecureChat::Rooms::create('alice', 'lobby'), '201 ok', 'alice logs in and makes lobby');
($st) = SecureChat::Rooms::call('alice', 'POST', '/api/chat', { message => 'hi', room => 'lobby' });
Test::More::is($st, 202, 'alice posts to lobby');
($st) = SecureChat::Rooms::call('alice', 'POST', '/api/chat', { message => 'hi' });
Test::More::is($st, 202, 'and to general, naming no room');
($st) = SecureChat::Rooms::call('alice', 'GET', '/api/rooms/lobby/members');
Test::More::is($st, 200, 'the members of lobby');
($st) = SecureChat::Rooms::call(undef, 'GET', '/api/rooms');
Test::More::is($st, 401, 'no session');
my @got = main::log_lines(7);
Test::More::is_deeply(\@got, ['POST /api/login 401 u=- r=-',
                              'POST /api/login 200 u=alice r=-',
                              'POST /api/rooms 201 u=alice r=lobby',
                              'POST /api/chat 202 u=alice r=lobby',
                              'POST /api/chat 202 u=alice r=general',
                              'GET /api/rooms/lobby/members 200 u=alice r=lobby',
                              'GET /api/rooms 401 u=- r=-'],
                      'each line names the user and the room, or "-"');
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]
