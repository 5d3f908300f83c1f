// The admin logs in words: who wrote an event of a log, and what a server-written event
// (a note published, a section renamed...) says, instead of its raw JSON body.
//
// A channel event without an author is either a former participant's (erased: the body
// says `former_participant`) or the system's (notices, board events of the server).

export function authorOf(row) {
  if (row.author_name) return row.author_name;
  if (row.author_id) return `#${row.author_id}`; // an account without a name any more
  return row.body && row.body.former_participant ? 'former participant' : 'system';
}

// A person named in an audit or activity row: the name now, the id as stored.
export function personOf(name, id, nobody = 'system') {
  if (id === null || id === undefined) return nobody;
  return name ? `${name} (#${id})` : `#${id}`;
}

const quote = (t) => `“${t}”`;
const noteRef = (id) => `note #${id}`;

const LINES = {
  'note.published': (b) => `Note published (${b.via || 'release'})${b.note && b.note.text ? `: ${quote(b.note.text)}` : ''}`,
  'note.edited': (b) => `Note edited${b.note && b.note.text ? `: ${quote(b.note.text)}` : ''}`,
  'note.pending': (b) => `${cap(noteRef(b.id))} waits for approval`,
  'note.offline': (b) => `${cap(noteRef(b.id))} taken offline`,
  'note.deleted': (b) => `${cap(noteRef(b.id))} deleted${b.tombstone ? ' (its replies stay)' : ''}`,
  'note.pinned': (b) => `${cap(noteRef(b.id))} ${b.pinned ? 'pinned' : 'unpinned'}`,
  'note.locked': (b) => `${cap(noteRef(b.id))} ${b.admin_locked ? 'locked by an admin' : 'unlocked'}`,
  'note.moved': (b) => `${cap(noteRef(b.id))} moved to ${b.section_id ? `section #${b.section_id}` : 'Unsorted'}`,
  'section.created': (b) => `Section ${quote((b.section && b.section.title) || '')} created`,
  'section.updated': (b) => `Section ${quote((b.section && b.section.title) || '')} changed`,
  'section.deleted': (b) => `Section #${b.id} deleted`,
  'sections.reordered': () => 'Sections reordered',
  'reply.added': (b) => `Reply to ${noteRef((b.reply && b.reply.note_id) || '?')}${b.reply && b.reply.text ? `: ${quote(b.reply.text)}` : ''}`,
  'reply.deleted': (b) => `Reply #${b.id} to ${noteRef(b.note_id)} deleted`,
  'vote.changed': (b) => `${cap(noteRef(b.note_id))} has ${b.votes} vote${b.votes === 1 ? '' : 's'}`,
  'board.updated': (b) => `Pre-moderation ${b.board && b.board.premoderation ? 'on' : 'off'}`,
  'note.taken_offline': (b) => `Your ${noteRef(b.note_id)} was taken offline${b.reason ? `: ${b.reason}` : ''}`,
  'note.reinstated': (b) => `Your ${noteRef(b.note_id)} is back on the board`,
  'note.approved': (b) => `Your ${noteRef(b.note_id)} was approved`,
  'note.queued': (b) => `Your ${noteRef(b.note_id)} waits for approval`,
  'note.deleted_by_moderator': (b) => `Your ${noteRef(b.note_id)} was deleted by a moderator${b.reason ? `: ${b.reason}` : ''}`,
  'dm.received': (b) => `New direct message from #${b.from} in ${b.channel}`,
  erased: () => 'Erased',
};

function cap(s) { return s.charAt(0).toUpperCase() + s.slice(1); }

// What an event of a log says: its text, or a readable line for an event without one.
export function logLine(row) {
  const b = row.body && typeof row.body === 'object' ? row.body : {};
  if (typeof row.text === 'string') return row.text;
  const line = LINES[row.type];
  if (line) return line(b);
  return fields(b);
}

// Any other object as "key: value · key: value"; nested objects are flattened
// ("filter type: message"), lists joined with commas.
export function fields(obj, prefix = '') {
  if (obj === null || obj === undefined) return '';
  if (typeof obj !== 'object') return String(obj);
  const parts = [];
  for (const [k, v] of Object.entries(obj)) {
    const key = `${prefix}${k.replace(/_/g, ' ')}`;
    if (Array.isArray(v)) parts.push(`${key}: ${v.map((x) => (x !== null && typeof x === 'object' ? fields(x) : x)).join(', ')}`);
    else if (v !== null && typeof v === 'object') { const inner = fields(v, `${key} `); if (inner) parts.push(inner); }
    else parts.push(`${key}: ${v}`);
  }
  return parts.join(' · ');
}
