<?php
// The chat example in plain PHP behind nginx + PHP-FPM (examples/README.md).
// The bridge calls /ws/<ClientId> (start it with --upstream http://127.0.0.1:8000/ws/):
//   GET    = a client connects: answer "ok" (+ Ws2api-Groups: room:<room>) or refuse
//   POST   = a client sent a message (the body); the answer body goes back to it
//   DELETE = the client is gone
// No state: room and name come with every request (the client's query string),
// the bridge holds the groups. Add PHP-FPM workers or servers as you like.

$bridge = rtrim(getenv('WS2API_INTERNAL_URL') ?: 'http://127.0.0.1:7002', '/');
$token = getenv('WS2API_PUSH_TOKEN') ?: '';

// POST a message to the bridge's internal listener; returns the HTTP status.
function push(string $target, array $message): int
{
    global $bridge, $token;
    $headers = "Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n";
    if ($token !== '') $headers .= "Authorization: Bearer $token\r\n";
    $context = stream_context_create(['http' => [
        'method' => 'POST', 'header' => $headers, 'content' => json_encode($message, JSON_UNESCAPED_UNICODE),
        'protocol_version' => 1.1, 'timeout' => 5, 'ignore_errors' => true, // 404 is an answer, not a failure
    ]]);
    if (@file_get_contents($bridge . $target, false, $context) === false) {
        throw new RuntimeException("bridge unreachable at $bridge");
    }
    $status = (int) explode(' ', $http_response_header[0])[1];
    if ($status !== 200 && $status !== 404) error_log("push $target: $status (WS2API_PUSH_TOKEN?)");
    return $status;
}

function toRoom(string $room, array $message, string $exclude): int
{
    return push('/groups/' . rawurlencode("room:$room") . '?exclude=' . rawurlencode($exclude), $message);
}

function reply(array $message): void
{
    echo json_encode($message, JSON_UNESCAPED_UNICODE);
}

header('Content-Type: text/plain; charset=utf-8');
if (!preg_match('~^/ws/([^/?]+)~', $_SERVER['REQUEST_URI'], $m)) {
    http_response_code(404);
    exit;
}
$id = rawurldecode($m[1]);
$room = (string) ($_GET['room'] ?? '');
$name = (string) ($_GET['name'] ?? '');
$me = ['id' => $id, 'name' => $name, 'room' => $room];

switch ($_SERVER['REQUEST_METHOD']) {
case 'GET':
    if (!preg_match('/^[a-z0-9-]{1,32}$/', $room)) exit('refused: room must be 1-32 of a-z 0-9 -');
    if (!preg_match('/^.{1,32}$/su', $name)) exit('refused: name must be 1-32 characters');
    toRoom($room, ['type' => 'join'] + $me, $id);
    header("Ws2api-Groups: room:$room");
    echo 'ok';
    break;
case 'POST':
    $in = json_decode(file_get_contents('php://input'), true);
    $text = is_array($in) ? ($in['text'] ?? null) : null;
    if (!is_string($text) || !preg_match('/^.{1,1000}$/su', $text)) {
        reply(['type' => 'error', 'text' => 'send {"text": "...", "to": "<ClientId>"?}']);
        break;
    }
    if (isset($in['to']) && is_string($in['to'])) {
        $private = ['type' => 'private'] + $me + ['to' => $in['to'], 'text' => $text];
        if (push('/' . rawurlencode($in['to']), $private) !== 200) {
            reply(['type' => 'error', 'text' => "{$in['to']} is not connected"]);
        } else {
            reply($private);
        }
        break;
    }
    $said = ['type' => 'message'] + $me + ['text' => $text];
    toRoom($room, $said, $id);
    reply($said); // the sender's copy
    break;
case 'DELETE':
    toRoom($room, ['type' => 'leave'] + $me, $id);
    break;
default:
    http_response_code(405);
}
