"""The demo's session in progress (issue 17, "The demo"): what a newcomer sees in the room.

Chat history between several participants, notes in sections (two with photos, made
with Pillow in memory and stored like uploads: ``storage.photos`` then the sealed
``storage.attachments`` store), a reply chain with votes, a closed poll with its results
shown, an open Q&A with upvoted questions and a note taken offline by the trainer.

Everything goes through the repo functions the API uses, in one transaction: the poll
is the marker, so a second ``classhub demo`` finds it and adds nothing.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.attachments import AttachmentStore
from storage.db import Database
from storage.event_types import MESSAGE
from storage.models import Activity, Attachment, Note, User
from storage.photos import clean_photo
from storage.repo import channel_log
from storage.repo.accounts import user_by_email
from storage.repo.activities import (
    ActivitySpec,
    activity_for,
    create_activity,
    set_state,
    show_results,
)
from storage.repo.activity_answers import AnswerRequest, answer_many
from storage.repo.channel_log import NewEvent
from storage.repo.pinboard_access import BoardAccess, BoardTx, event_board
from storage.repo.pinboard_moderation import take_offline
from storage.repo.pinboard_notes import create_note, edit_note
from storage.repo.pinboard_replies import add_reply, vote
from storage.repo.pinboard_sections import create_section
from storage.repo.qa import ask as qa_ask
from storage.repo.qa import event_qa, mark
from storage.repo.qa_votes import VoteRequest, vote_many
from storage.settings import Settings

POLL_TITLE = "Which warm-up should we use after lunch?"
POLL_OPTIONS = ("Energiser game", "Pair interviews", "Silent brainstorm", "Skip it")
# Participant number -> chosen option: 12 answers, "Pair interviews" wins.
POLL_ANSWERS = {1: 1, 2: 1, 3: 0, 4: 1, 5: 2, 6: 1, 7: 0, 8: 3, 9: 1, 10: 2, 11: 0, 12: 1}

# (who, text): "trainer" or a participant's number.
CHAT: Sequence[tuple[str | int, str]] = (
    ("trainer", "Good morning everyone! Coffee is in the back, we start in five minutes."),
    (1, "Morning! Joining from Room 2.14 with Ben and Chloé."),
    (2, "Hi all, the projector in 2.14 works now."),
    (5, "I'm online today, the train was cancelled. Can you hear me?"),
    ("trainer", "Loud and clear, Esi. Put your questions in the Q&A, I'll pick them up."),
    (3, "Where do we put the photos of the flipcharts?"),
    ("trainer", "On the board, in the section 'Flipcharts'. Add a photo to your note."),
    (8, "Lunch is at 12:30, right?"),
    ("trainer", "Yes, 12:30 to 13:15. The poll for the warm-up after lunch is closed."),
    (6, "Pair interviews won, nice."),
)

# (section, author, text, colour, photo caption or None)
NOTES: Sequence[tuple[str, int, str, str, str | None]] = (
    ("Expectations", 1, "Learn to keep energy up in a 3-hour online block.", "yellow", None),
    ("Expectations", 4, "Tools for quiet participants to speak up.", "blue", None),
    ("Expectations", 7, "How to handle a hybrid room (some in person, some online).", "green",
     None),
    ("Flipcharts", 2, "Our group's ground rules, from the first exercise.", "pink",
     "Ground rules"),
    ("Flipcharts", 3, "Mind map: what makes a workshop feel alive.", "orange", "Mind map"),
    ("Parking lot", 9, "Can we get the slides after the session?", "white", None),
)
REPLIES = (  # a chain under the first note: (author, text)
    (2, "Same here: after lunch my group always fades."),
    (1, "Short breaks every 45 minutes helped us."),
    ("trainer", "We'll try exactly that after lunch, and compare."),
)
NOTE_VOTERS = (2, 3, 5, 6, 10)  # vote for the first note
OFFLINE_NOTE = (9, "Buy cheap followers at spam.example!!!", "Advertising, taken offline.")

QUESTIONS = (  # (author, text, voters, answered)
    (5, "Will the recording be available for people who joined online?", (1, 2, 3, 6, 7, 9),
     False),
    (10, "How do you run a poll when half the room has no laptop?", (4, 11, 12), False),
    (12, "Is there a checklist for hybrid rooms?", (2, 8), True),
)


def flipchart_png(caption: str) -> bytes:
    """A small drawn flipchart, made in memory (no file in the repository)."""
    im = Image.new("RGB", (640, 480), (250, 250, 245))
    draw = ImageDraw.Draw(im)
    draw.rectangle((20, 20, 619, 459), outline=(60, 60, 60), width=4)
    draw.text((60, 50), caption, fill=(20, 60, 160))
    for k, colour in enumerate(((200, 40, 40), (40, 140, 60), (230, 150, 20))):
        draw.ellipse((80 + 170 * k, 150, 220 + 170 * k, 290), outline=colour, width=6)
        draw.line((150 + 170 * k, 290, 150 + 170 * k, 400), fill=colour, width=5)
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


async def has_session(db: AsyncSession, event_id: int) -> bool:
    found = await db.execute(
        select(Activity.id).where(Activity.event_id == event_id, Activity.title == POLL_TITLE)
    )
    return found.first() is not None


class _Loader:
    def __init__(self, db: AsyncSession, event_id: int, people: dict[str | int, User],
                 store: AttachmentStore, settings: Settings) -> None:
        self.db, self.event_id, self.people = db, event_id, people
        self.store, self.settings = store, settings
        self.written: list[int] = []  # attachment files, removed if the transaction fails

    def tx(self, who: str | int) -> BoardTx:
        return BoardTx(self.db, self.people[who], "")

    async def board(self, tx: BoardTx) -> BoardAccess:
        return await event_board(self.db, tx.actor, self.event_id)

    async def chat(self) -> None:
        items = [
            NewEvent(channel=f"event:{self.event_id}:chat", type=MESSAGE, body={"text": text},
                     author_id=self.people[who].id, client_id=f"demo-chat-{n}")
            for n, (who, text) in enumerate(CHAT)
        ]
        await channel_log.append(self.db, items)

    async def notes(self) -> None:
        trainer = self.tx("trainer")
        acc = await self.board(trainer)
        sections: dict[str, int] = {}
        for title, *_ in NOTES:
            if title not in sections:
                sections[title] = (await create_section(trainer, acc, title)).id
        await trainer.commit_events()
        written: list[Note] = []
        for title, who, text, colour, caption in NOTES:
            tx = self.tx(who)
            acc = await self.board(tx)
            note, _ = await create_note(tx, acc, text=text, colour=colour,
                                        section_id=sections[title], release=True)
            if caption is not None:
                await self.photo(tx, acc, note, caption)
            await tx.commit_events()
            written.append(note)
        await self.thread(written[0])
        await self.offline(sections["Parking lot"])

    async def photo(self, tx: BoardTx, acc: BoardAccess, note: Note, caption: str) -> None:
        photo = clean_photo(flipchart_png(caption), max_bytes=self.settings.photo_max_bytes,
                            max_pixels=self.settings.photo_max_pixels)
        att = Attachment(
            board_id=note.board_id, owner_id=tx.actor.id, content_type=photo.content_type,
            width=photo.width, height=photo.height, size=len(photo.data),
            key_id="", nonce=b"", thumb_nonce=b"", thumb_content_type=photo.thumb_content_type,
        )
        self.db.add(att)
        await self.db.flush()
        sealed = self.store.seal(att.id, "photo", photo.data)
        thumb = self.store.seal(att.id, "thumb", photo.thumb)
        att.key_id, att.nonce, att.thumb_nonce = sealed.key_id, sealed.nonce, thumb.nonce
        self.written.append(att.id)
        self.store.write(att.id, "photo", sealed)
        self.store.write(att.id, "thumb", thumb)
        await edit_note(tx, acc, note, text=None, colour=None, photo_id=att.id, set_photo=True)

    async def thread(self, note: Note) -> None:
        parent: int | None = None
        for who, text in REPLIES:
            tx = self.tx(who)
            reply, _ = await add_reply(tx, await self.board(tx), note, text, parent)
            parent = reply.id
            await tx.commit_events()
        for who in NOTE_VOTERS:
            tx = self.tx(who)
            await vote(tx, await self.board(tx), note)
            await tx.commit_events()

    async def offline(self, section_id: int) -> None:
        who, text, reason = OFFLINE_NOTE
        tx = self.tx(who)
        note, _ = await create_note(tx, await self.board(tx), text=text, colour="yellow",
                                    section_id=section_id, release=True)
        await tx.commit_events()
        trainer = self.tx("trainer")
        await take_offline(trainer, await self.board(trainer), note, reason)
        await trainer.commit_events()

    async def poll(self) -> None:
        trainer = self.tx("trainer")
        spec = ActivitySpec(kind="poll", title=POLL_TITLE, options=POLL_OPTIONS)
        acc = await create_activity(trainer, self.event_id, None, spec)
        await set_state(trainer, acc, "open")
        await trainer.commit_events()
        reqs = [AnswerRequest(self.people[who], acc.activity.id, (choice,))
                for who, choice in POLL_ANSWERS.items()]
        for outcome in await answer_many(self.db, reqs):
            if isinstance(outcome, Exception):
                raise outcome
        acc = await activity_for(self.db, trainer.actor, acc.activity.id)
        await set_state(trainer, acc, "closed")
        await show_results(trainer, acc, True)
        await trainer.commit_events()

    async def qa(self) -> None:
        for who, text, voters, answered in QUESTIONS:
            tx = self.tx(who)
            q = await qa_ask(tx, await event_qa(self.db, tx.actor, self.event_id), text)
            await tx.commit_events()
            await self.db.flush()
            outcomes = await vote_many(
                self.db, [VoteRequest(self.people[v], q.id, True) for v in voters]
            )
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    raise outcome
            if answered:
                trainer = self.tx("trainer")
                qa_acc = await event_qa(self.db, trainer.actor, self.event_id)
                await mark(trainer, qa_acc, q, answered=True, pinned=None)
                await trainer.commit_events()


async def load_session(
    database: Database, settings: Settings, event_id: int, emails: dict[str | int, str]
) -> bool:
    """Add the session in progress unless it is there; True if it was added now.

    One transaction: all of it or nothing; if it fails, the photo files written go too.
    """
    store = AttachmentStore.from_settings(settings)
    written: list[int] = []
    try:
        async with database.session() as db:
            if await has_session(db, event_id):
                return False
            people: dict[str | int, User] = {}
            for who, email in emails.items():
                user = await user_by_email(db, email)
                if user is None:
                    raise RuntimeError(f"the demo account {email} is missing")
                people[who] = user
            loader = _Loader(db, event_id, people, store, settings)
            written = loader.written
            await loader.chat()
            await loader.notes()
            await loader.poll()
            await loader.qa()
    except BaseException:
        for att_id in written:
            store.remove(att_id)
        raise
    return True
