"""The lessons, in syllabus order. Folder names are the lesson ids used everywhere."""

from __future__ import annotations

from course.errors import CourseError

LESSONS: dict[str, str] = {
    "01-full-fine-tuning": "Full fine-tuning",
    "02-soft-prompting": "Soft prompting (prompt engineering)",
    "03-prompt-tuning": "Prompt tuning",
    "04-prefix-tuning": "Prefix tuning",
    "05-adapters": "Adapters",
    "06-lora": "LoRA",
    "07-qlora": "QLoRA and NF4 quantization",
    "08-alignment": "SFT -> reward model -> RLHF / DPO",
    "09-rag-vs-fine-tuning": "RAG versus fine-tuning",
    "10-distillation": "Model distillation",
    "11-capstone": "Capstone: which method?",
}
# lessons with a lab and no graded exercise: nothing to check or grade
LAB_ONLY = {"11-capstone"}
# the lessons with an exercise.ipynb that nbgrader grades
GRADED: dict[str, str] = {lesson: title for lesson, title in LESSONS.items() if lesson not in LAB_ONLY}


def require_lesson(lesson: str) -> str:
    """`lesson` if it is one of the course's lessons, else a CourseError listing the valid ids."""
    if lesson in LESSONS:
        return lesson
    raise CourseError(f"unknown lesson {lesson!r} (lessons: {', '.join(LESSONS)})")


def require_graded(lesson: str) -> str:
    """`lesson` if it has a graded exercise, else a CourseError (unknown lesson, or a lab-only one)."""
    if require_lesson(lesson) in GRADED:
        return lesson
    raise CourseError(f"lesson {lesson!r} has no graded exercise, only a lab (graded lessons: {', '.join(GRADED)})")
